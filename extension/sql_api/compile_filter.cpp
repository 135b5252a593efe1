// livesync.compile_filter(table regclass, filter text) -> text
//
// Compiles a row filter written in SQL into the filter tree JSON of
// common/filter_tree.hpp. Postgres parses and type-checks the expression against the
// table exactly as it does a row-level security policy (transformWhereClause); the
// walker then accepts only what livesyncd can evaluate: AND/OR/NOT, comparisons of
// built-in types with pg_catalog operators, IN lists, IS [NOT] NULL, columns, constants
// and livesync.claim('name'). Anything else is rejected with an error naming it.
//
// The walker is plain C-style code writing JSON into a StringInfo (it owns no C++
// objects, so an ereport inside it unwinds nothing); the result is then parsed back with
// common::parse_filter as a check that both sides agree on the format.
#include "common/filter_tree.hpp"
#include "extension/pg_guard.hpp"

#include <stdexcept>

extern "C" {
#include "catalog/namespace.h"
#include "catalog/pg_namespace_d.h"
#include "miscadmin.h"
#include "catalog/pg_operator.h"
#include "catalog/pg_type.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "parser/parse_clause.h"
#include "parser/parse_collate.h"
#include "parser/parse_node.h"
#include "parser/parse_relation.h"
#include "parser/parser.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/syscache.h"
#include "access/table.h"

PG_FUNCTION_INFO_V1(livesync_compile_filter);
}

namespace livesync::extension::sql_api {

namespace {

[[noreturn]] void reject(const char *what, const char *hint = nullptr) {
    ereport(ERROR, (errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
                    errmsg("livesync filter: %s is not supported", what),
                    hint ? errhint("%s", hint) : 0));
    pg_unreachable();
}

constexpr const char *kSupported =
    "Filters may use columns, constants, livesync.claim('name'), comparisons (= <> < <= > >=), IN (...), "
    "IS [NOT] NULL, AND, OR, NOT and casts.";

// The comparison domain of a type, or nullptr when livesyncd cannot compare it.
const char *compare_type(Oid type) {
    switch (getBaseType(type)) {
        case BOOLOID: return "bool";
        case INT2OID:
        case INT4OID:
        case INT8OID: return "int";
        case FLOAT4OID:
        case FLOAT8OID: return "float";
        case NUMERICOID: return "numeric";
        case TEXTOID:
        case VARCHAROID:
        case BPCHAROID:
        case NAMEOID: return "text";
        case UUIDOID: return "uuid";
        default: return nullptr;
    }
}

// Casts only change how a value is read; the comparison type decides that in livesyncd.
Node *strip_casts(Node *node) {
    for (;;) {
        if (IsA(node, RelabelType)) node = (Node *)((RelabelType *)node)->arg;
        else if (IsA(node, CoerceViaIO)) node = (Node *)((CoerceViaIO *)node)->arg;
        else if (IsA(node, FuncExpr) && ((FuncExpr *)node)->funcformat != COERCE_EXPLICIT_CALL &&
                 list_length(((FuncExpr *)node)->args) == 1)
            node = (Node *)linitial(((FuncExpr *)node)->args);
        else return node;
    }
}

bool is_claim_function(Oid funcid) {
    char *name = get_func_name(funcid);
    Oid nsp = get_func_namespace(funcid);
    char *nspname = get_namespace_name(nsp);
    return name && nspname && strcmp(name, "claim") == 0 && strcmp(nspname, "livesync") == 0;
}

void append_constant(StringInfo out, Const *c) {
    appendStringInfoString(out, "{\"value\":");
    if (c->constisnull) {
        appendStringInfoString(out, "null");
    } else {
        switch (getBaseType(c->consttype)) {
            case BOOLOID: appendStringInfoString(out, DatumGetBool(c->constvalue) ? "true" : "false"); break;
            case INT2OID: appendStringInfo(out, "%d", DatumGetInt16(c->constvalue)); break;
            case INT4OID: appendStringInfo(out, "%d", DatumGetInt32(c->constvalue)); break;
            case INT8OID: appendStringInfo(out, INT64_FORMAT, DatumGetInt64(c->constvalue)); break;
            default: {
                // Everything else travels as its text form (numeric stays exact, floats
                // round-trip with extra_float_digits' default shortest-exact output).
                Oid out_func;
                bool is_varlena;
                getTypeOutputInfo(c->consttype, &out_func, &is_varlena);
                escape_json(out, OidOutputFunctionCall(out_func, c->constvalue));
            }
        }
    }
    appendStringInfoChar(out, '}');
}

void append_operand(StringInfo out, Node *node, Relation rel) {
    node = strip_casts(node);
    if (IsA(node, Var)) {
        Var *var = (Var *)node;
        if (var->varattno <= 0) reject("a system column");
        appendStringInfoString(out, "{\"col\":");
        escape_json(out, get_attname(RelationGetRelid(rel), var->varattno, false));
        appendStringInfoChar(out, '}');
    } else if (IsA(node, Const)) {
        append_constant(out, (Const *)node);
    } else if (IsA(node, FuncExpr) && is_claim_function(((FuncExpr *)node)->funcid)) {
        Node *arg = strip_casts((Node *)linitial(((FuncExpr *)node)->args));
        if (!IsA(arg, Const) || ((Const *)arg)->constisnull)
            reject("livesync.claim() with a name that is not a constant", "Write livesync.claim('sub').");
        appendStringInfoString(out, "{\"claim\":");
        escape_json(out, TextDatumGetCString(((Const *)arg)->constvalue));
        appendStringInfoChar(out, '}');
    } else if (IsA(node, FuncExpr)) {
        char message[NAMEDATALEN + 32];
        snprintf(message, sizeof message, "function %s()", get_func_name(((FuncExpr *)node)->funcid));
        reject(message, kSupported);
    } else {
        reject("this kind of operand", kSupported);
    }
}

// Operator name, checked to be a pg_catalog comparison operator.
const char *comparison_name(Oid opno) {
    HeapTuple tuple = SearchSysCache1(OPEROID, ObjectIdGetDatum(opno));
    if (!HeapTupleIsValid(tuple)) elog(ERROR, "cache lookup failed for operator %u", opno);
    Form_pg_operator form = (Form_pg_operator)GETSTRUCT(tuple);
    const char *name = pstrdup(NameStr(form->oprname));
    Oid nsp = form->oprnamespace;
    ReleaseSysCache(tuple);
    static const char *kNames[] = {"=", "<>", "<", "<=", ">", ">="};
    for (const char *n : kNames)
        if (strcmp(n, name) == 0 && nsp == PG_CATALOG_NAMESPACE) return n;
    char message[NAMEDATALEN + 32];
    snprintf(message, sizeof message, "operator %s", name);
    reject(message, kSupported);
}

const char *operand_compare_type(Oid opno) {
    Oid left, right;
    op_input_types(opno, &left, &right);
    const char *type = compare_type(left);
    if (type == nullptr || compare_type(right) == nullptr) {
        char message[2 * NAMEDATALEN + 32];
        snprintf(message, sizeof message, "comparing values of type %s", format_type_be(type ? right : left));
        reject(message, "Compare booleans, integers, floats, numerics, text or uuids.");
    }
    return type;
}

void append_node(StringInfo out, Node *node, Relation rel, int depth) {
    check_stack_depth();
    if (depth > 32) reject("a filter nested more than 32 levels deep");
    switch (nodeTag(node)) {
        case T_BoolExpr: {
            BoolExpr *b = (BoolExpr *)node;
            if (b->boolop == NOT_EXPR) {
                appendStringInfoString(out, "{\"not\":");
                append_node(out, (Node *)linitial(b->args), rel, depth + 1);
                appendStringInfoChar(out, '}');
                return;
            }
            appendStringInfoString(out, b->boolop == AND_EXPR ? "{\"and\":[" : "{\"or\":[");
            ListCell *lc;
            bool first = true;
            foreach (lc, b->args) {
                if (!first) appendStringInfoChar(out, ',');
                first = false;
                append_node(out, (Node *)lfirst(lc), rel, depth + 1);
            }
            appendStringInfoString(out, "]}");
            return;
        }
        case T_OpExpr: {
            OpExpr *op = (OpExpr *)node;
            if (list_length(op->args) != 2) reject("a prefix operator", kSupported);
            const char *name = comparison_name(op->opno);
            appendStringInfo(out, "{\"cmp\":\"%s\",\"type\":\"%s\",\"args\":[", name, operand_compare_type(op->opno));
            append_operand(out, (Node *)linitial(op->args), rel);
            appendStringInfoChar(out, ',');
            append_operand(out, (Node *)lsecond(op->args), rel);
            appendStringInfoString(out, "]}");
            return;
        }
        case T_ScalarArrayOpExpr: {
            ScalarArrayOpExpr *sa = (ScalarArrayOpExpr *)node;
            Node *list = strip_casts((Node *)lsecond(sa->args));
            if (!sa->useOr || strcmp(comparison_name(sa->opno), "=") != 0 || !IsA(list, ArrayExpr))
                reject("this ANY/ALL form", "Write x IN (a, b, c).");
            appendStringInfoString(out, "{\"in\":");
            append_operand(out, (Node *)linitial(sa->args), rel);
            appendStringInfo(out, ",\"type\":\"%s\",\"values\":[", operand_compare_type(sa->opno));
            ListCell *lc;
            bool first = true;
            foreach (lc, ((ArrayExpr *)list)->elements) {
                if (!first) appendStringInfoChar(out, ',');
                first = false;
                append_operand(out, (Node *)lfirst(lc), rel);
            }
            appendStringInfoString(out, "]}");
            return;
        }
        case T_NullTest: {
            NullTest *nt = (NullTest *)node;
            if (nt->argisrow) reject("IS NULL on a row value");
            appendStringInfoString(out, nt->nulltesttype == IS_NULL ? "{\"is_null\":" : "{\"not_null\":");
            append_operand(out, (Node *)nt->arg, rel);
            appendStringInfoChar(out, '}');
            return;
        }
        case T_Const: {
            Const *c = (Const *)node;
            appendStringInfo(out, "{\"const\":%s}", !c->constisnull && DatumGetBool(c->constvalue) ? "true" : "false");
            return;
        }
        case T_Var:
        case T_RelabelType:
        case T_CoerceViaIO:
        case T_FuncExpr: {
            // A boolean on its own: a boolean column, or livesync.claim(..)::boolean.
            appendStringInfoString(out, "{\"cmp\":\"=\",\"type\":\"bool\",\"args\":[");
            append_operand(out, node, rel);
            appendStringInfoString(out, ",{\"value\":true}]}");
            return;
        }
        case T_SubLink: reject("a subquery", kSupported);
        case T_BooleanTest: reject("IS TRUE / IS FALSE / IS UNKNOWN", "Write the condition itself, or x IS NULL.");
        default: reject("this kind of expression", kSupported);
    }
}

// The one expression of "SELECT 1 WHERE <filter>", refusing anything that parses as
// more than a single plain WHERE clause (a second statement, UNION, ORDER BY, ...).
Node *parse_filter_text(const char *filter) {
    StringInfoData sql;
    initStringInfo(&sql);
    appendStringInfo(&sql, "SELECT 1 WHERE %s", filter);
    List *stmts = raw_parser(sql.data, RAW_PARSE_DEFAULT);
    if (list_length(stmts) != 1) reject("more than one statement");
    Node *stmt = ((RawStmt *)linitial(stmts))->stmt;
    if (!IsA(stmt, SelectStmt)) reject("this statement");
    SelectStmt *select = (SelectStmt *)stmt;
    if (select->op != SETOP_NONE || select->fromClause || select->groupClause || select->havingClause ||
        select->sortClause || select->limitCount || select->limitOffset || select->lockingClause ||
        select->withClause || select->windowClause || select->distinctClause || select->whereClause == nullptr ||
        list_length(select->targetList) != 1)
        reject("anything but a single boolean expression");
    return select->whereClause;
}

char *compile(Oid relid, const char *filter) {
    Node *raw = parse_filter_text(filter);
    Relation rel = table_open(relid, AccessShareLock);
    ParseState *pstate = make_parsestate(nullptr);
    ParseNamespaceItem *nsitem = addRangeTableEntryForRelation(pstate, rel, AccessShareLock, nullptr, false, false);
    addNSItemToQuery(pstate, nsitem, false, true, true);
    Node *expr = transformWhereClause(pstate, raw, EXPR_KIND_POLICY, "livesync filter");
    assign_expr_collations(pstate, expr);
    StringInfoData out;
    initStringInfo(&out);
    append_node(&out, expr, rel, 0);
    free_parsestate(pstate);
    table_close(rel, AccessShareLock);
    return out.data;
}

}  // namespace
}  // namespace livesync::extension::sql_api

extern "C" Datum livesync_compile_filter(PG_FUNCTION_ARGS) {
    using namespace livesync::extension;
    if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
        ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED), errmsg("livesync filter: table and filter must not be NULL")));
    char *json = sql_api::compile(PG_GETARG_OID(0), text_to_cstring(PG_GETARG_TEXT_PP(1)));
    guard_cpp("compile_filter", [json] {
        std::string error;
        if (!livesync::common::parse_filter(json, &error))
            throw std::runtime_error("compiled filter does not parse back: " + error);
    });
    PG_RETURN_TEXT_P(cstring_to_text(json));
}
