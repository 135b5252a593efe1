-- TRUNCATE of published tables (op "t", once per statement) and livesync.notify()
-- (op "m"), both transactional and in their place among the data changes.
CREATE EXTENSION livesync;
SELECT 'init' FROM pg_create_logical_replication_slot('tn_slot', 'livesync');
CREATE TABLE a (id int PRIMARY KEY);
CREATE TABLE b (id int PRIMARY KEY, a_id int REFERENCES a);
CREATE TABLE hidden (id int PRIMARY KEY);
SELECT livesync.publish('a'), livesync.publish('b');
SELECT 'skip' FROM pg_logical_slot_get_changes('tn_slot', NULL, NULL, 'format', 'json');

-- One statement over published and unpublished tables: one change naming the published ones.
INSERT INTO a VALUES (1);
TRUNCATE a, hidden CASCADE;
TRUNCATE hidden;
BEGIN;
INSERT INTO b VALUES (1, NULL);
TRUNCATE b RESTART IDENTITY;
INSERT INTO b VALUES (2, NULL);
COMMIT;
SELECT data FROM pg_logical_slot_get_changes('tn_slot', NULL, NULL, 'format', 'json', 'include_txn_info', '0');

-- Notifications: committed ones only, ordered with the rows of their transaction.
BEGIN;
INSERT INTO a VALUES (10);
SELECT 'sent' FROM livesync.notify('orders', '{"order": 10, "note": "ünïcødé \"quoted\""}');
INSERT INTO a VALUES (11);
COMMIT;
BEGIN;
SELECT 'sent' FROM livesync.notify('orders', '{"never": "delivered"}');
ROLLBACK;
SELECT 'sent' FROM livesync.notify('bare', '[1, 2.50, null]');
SELECT 'sent' FROM livesync.notify('nothing', NULL);
SELECT data FROM pg_logical_slot_get_changes('tn_slot', NULL, NULL, 'format', 'json', 'include_txn_info', '0');

-- Bad arguments, and messages that did not come from livesync.notify().
SELECT livesync.notify(NULL, '{}');
SELECT livesync.notify('', '{}');
SELECT 'other' FROM pg_logical_emit_message(true, 'someone-else', 'ignored');
SELECT 'raw' FROM pg_logical_emit_message(true, 'livesync', 'no channel separator');
SELECT 'raw' FROM pg_logical_emit_message(true, 'livesync', convert_to('chan', 'UTF8') || '\x00'::bytea || convert_to('{not json', 'UTF8'));
SELECT 'raw' FROM pg_logical_emit_message(false, 'livesync', 'not transactional');
SELECT data FROM pg_logical_slot_get_changes('tn_slot', NULL, NULL, 'format', 'json', 'include_txn_info', '0');

-- Only superusers (and whom they grant it to) may notify.
CREATE ROLE livesync_notify_user;
SET ROLE livesync_notify_user;
SELECT livesync.notify('orders', '{}');
RESET ROLE;
DROP ROLE livesync_notify_user;

SELECT 'stop' FROM pg_drop_replication_slot('tn_slot');
DROP TABLE a, b, hidden;
DROP EXTENSION livesync;
