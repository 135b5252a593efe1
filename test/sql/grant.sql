-- Access rules: grant / revoke, and the row filters livesync compiles for livesyncd.
CREATE EXTENSION livesync;
CREATE TABLE docs (id int PRIMARY KEY, owner_id int, tenant text, title text, score real,
                   amount numeric, uid uuid, archived boolean, tags text[]);
SELECT livesync.publish('docs');

-- A filter may read only columns that deletes carry too.
SELECT livesync.grant('member', 'docs', $$owner_id = livesync.claim('sub')::int$$);
ALTER TABLE docs REPLICA IDENTITY FULL;

-- A rule per role; the filter is compiled to the tree livesyncd evaluates.
SELECT livesync.grant('member', 'docs', $$owner_id = livesync.claim('sub')::int$$, ARRAY['id', 'title']);
SELECT livesync.grant('admin', 'docs');
SELECT role_name, filter, filter_tree, columns FROM livesync.rules ORDER BY role_name;

-- Every supported form.
SELECT livesync.compile_filter('docs', $$owner_id = livesync.claim('sub')::int OR livesync.claim('role') = 'admin'$$);
SELECT livesync.compile_filter('docs', $$NOT archived AND title IS NOT NULL AND tenant IN ('a', 'b')$$);
SELECT livesync.compile_filter('docs', $$score >= 2.5 AND amount < 12345678901234567890.5 AND uid IS NULL$$);
SELECT livesync.compile_filter('docs', $$uid = livesync.claim('sub')::uuid AND id <> 7 AND false$$);
SELECT livesync.compile_filter('docs', $$owner_id::text = livesync.claim('sub')$$);
SELECT livesync.compile_filter('docs', 'archived');

-- Granting again replaces the rule; revoke says whether there was one.
SELECT livesync.grant('member', 'docs', $$tenant = livesync.claim('tenant')$$);
SELECT role_name, filter, columns FROM livesync.rules ORDER BY role_name;
SELECT livesync.revoke('admin', 'docs');
SELECT livesync.revoke('admin', 'docs');

-- Rejected at grant time, each with an error naming the problem.
SELECT livesync.grant('member', 'docs', $$title ~ 'x'$$);
SELECT livesync.grant('member', 'docs', $$lower(title) = 'x'$$);
SELECT livesync.grant('member', 'docs', $$id IN (SELECT 1)$$);
SELECT livesync.grant('member', 'docs', $$tags = ARRAY['a']$$);
SELECT livesync.grant('member', 'docs', $$archived IS TRUE$$);
SELECT livesync.grant('member', 'docs', $$id = livesync.claim(title)::int$$);
SELECT livesync.grant('member', 'docs', $$ctid = '(0,1)'$$);
SELECT livesync.grant('member', 'docs', $$true; DROP TABLE docs$$);
SELECT livesync.grant('member', 'docs', $$true ORDER BY 1$$);
SELECT livesync.grant('member', 'docs', $$no_such_column = 1$$);
SELECT livesync.grant('member', 'docs', $$owner_id = livesync.claim('sub')$$);
SELECT livesync.grant('member', 'docs', $$id + 1$$);
SELECT livesync.grant('member', 'docs', 'true', ARRAY['id', 'nope']);
SELECT livesync.grant('member', 'docs', 'true', ARRAY[]::text[]);
SELECT livesync.grant('', 'docs');
SELECT livesync.grant('member', NULL);
-- ... and only published columns.
CREATE TABLE narrow (id int PRIMARY KEY, owner_id int, secret text);
ALTER TABLE narrow REPLICA IDENTITY FULL;
SELECT livesync.publish('narrow', columns => ARRAY['id', 'owner_id']);
SELECT livesync.grant('member', 'narrow', $$secret = 'x'$$);
SELECT livesync.grant('member', 'narrow', 'true', ARRAY['id', 'secret']);
SELECT livesync.grant('member', 'narrow', $$owner_id = livesync.claim('sub')::int$$, ARRAY['id']);
CREATE TABLE unpublished (id int);
SELECT livesync.grant('member', 'unpublished');
SELECT count(*) AS rules_left FROM livesync.rules;

-- The same filter evaluated in SQL with livesync.claims: what livesyncd must match.
INSERT INTO docs (id, owner_id, tenant) VALUES (1, 7, 'a'), (2, 8, 'b'), (3, NULL, 'a');
SET livesync.claims = '{"sub": "7", "tenant": "a"}';
SELECT id FROM docs WHERE owner_id = livesync.claim('sub')::int ORDER BY id;
SELECT id FROM docs WHERE tenant = livesync.claim('tenant') ORDER BY id;
RESET livesync.claims;
SELECT id FROM docs WHERE tenant = livesync.claim('tenant') ORDER BY id;

DROP TABLE docs, narrow, unpublished;
DROP EXTENSION livesync;
