#include "filter_tree.hpp"

#include <rapidjson/document.h>
#include <rapidjson/error/en.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdlib>

namespace livesync::common {

const Value *RowView::find(std::string_view name) const {
    for (const Column &c : columns_)
        if (c.name == name) return &c.value;
    return nullptr;
}

namespace {

using JsonValue = rapidjson::Value;

bool fail(std::string *error, std::string message) {
    *error = std::move(message);
    return false;
}

std::optional<CompareType> compare_type_of(std::string_view name) {
    if (name == "bool") return CompareType::Bool;
    if (name == "int") return CompareType::Int;
    if (name == "float") return CompareType::Float;
    if (name == "numeric") return CompareType::Numeric;
    if (name == "text") return CompareType::Text;
    if (name == "uuid") return CompareType::Uuid;
    return std::nullopt;
}

const char *compare_type_name(CompareType t) {
    switch (t) {
        case CompareType::Bool: return "bool";
        case CompareType::Int: return "int";
        case CompareType::Float: return "float";
        case CompareType::Numeric: return "numeric";
        case CompareType::Text: return "text";
        case CompareType::Uuid: return "uuid";
    }
    return "text";
}

bool parse_operand(const JsonValue &j, FilterOperand &out, std::string *error) {
    if (!j.IsObject() || j.MemberCount() != 1) return fail(error, "an operand must be an object with one member");
    const auto &m = *j.MemberBegin();
    std::string_view key(m.name.GetString(), m.name.GetStringLength());
    if (key == "col" || key == "claim") {
        if (!m.value.IsString() || m.value.GetStringLength() == 0)
            return fail(error, std::string("\"") + std::string(key) + "\" must name a column or claim");
        out.kind = key == "col" ? FilterOperand::Kind::Column : FilterOperand::Kind::Claim;
        out.name.assign(m.value.GetString(), m.value.GetStringLength());
        return true;
    }
    if (key != "value") return fail(error, "unknown operand \"" + std::string(key) + "\"");
    out.kind = FilterOperand::Kind::Constant;
    common::Value &v = out.constant;
    const JsonValue &c = m.value;
    if (c.IsNull()) v.kind = common::Value::Kind::Null;
    else if (c.IsBool()) { v.kind = common::Value::Kind::Bool; v.b = c.GetBool(); }
    else if (c.IsInt64()) { v.kind = common::Value::Kind::Int; v.i = c.GetInt64(); }
    else if (c.IsNumber()) { v.kind = common::Value::Kind::Float; v.f = c.GetDouble(); }
    else if (c.IsString()) { v.kind = common::Value::Kind::Text; v.s.assign(c.GetString(), c.GetStringLength()); }
    else return fail(error, "a constant must be a string, number, boolean or null");
    return true;
}

bool parse_node(const JsonValue &j, FilterNode &out, std::string *error, int depth) {
    if (depth > 64) return fail(error, "filter is nested too deeply");
    if (!j.IsObject()) return fail(error, "a filter node must be an object");
    auto member = [&](const char *name) -> const JsonValue * {
        auto it = j.FindMember(name);
        return it == j.MemberEnd() ? nullptr : &it->value;
    };
    auto parse_type = [&]() {
        const JsonValue *t = member("type");
        if (!t || !t->IsString()) return fail(error, "a comparison needs a \"type\"");
        auto ct = compare_type_of(std::string_view(t->GetString(), t->GetStringLength()));
        if (!ct) return fail(error, std::string("unknown comparison type \"") + t->GetString() + "\"");
        out.type = *ct;
        return true;
    };
    if (const JsonValue *list = member("and") ? member("and") : member("or")) {
        out.kind = member("and") ? FilterNode::Kind::And : FilterNode::Kind::Or;
        if (!list->IsArray() || list->Empty()) return fail(error, "\"and\"/\"or\" need a non-empty array");
        out.children.resize(list->Size());
        for (rapidjson::SizeType i = 0; i < list->Size(); ++i)
            if (!parse_node((*list)[i], out.children[i], error, depth + 1)) return false;
        return true;
    }
    if (const JsonValue *inner = member("not")) {
        out.kind = FilterNode::Kind::Not;
        out.children.resize(1);
        return parse_node(*inner, out.children[0], error, depth + 1);
    }
    if (const JsonValue *c = member("const")) {
        if (!c->IsBool()) return fail(error, "\"const\" must be true or false");
        out.kind = FilterNode::Kind::Const;
        out.constant = c->GetBool();
        return true;
    }
    if (const JsonValue *op = member("cmp")) {
        out.kind = FilterNode::Kind::Compare;
        if (!op->IsString()) return fail(error, "\"cmp\" must be an operator string");
        out.op.assign(op->GetString(), op->GetStringLength());
        static const char *kOps[] = {"=", "<>", "<", "<=", ">", ">="};
        if (std::none_of(std::begin(kOps), std::end(kOps), [&](const char *o) { return out.op == o; }))
            return fail(error, "unknown comparison operator \"" + out.op + "\"");
        if (!parse_type()) return false;
        const JsonValue *args = member("args");
        if (!args || !args->IsArray() || args->Size() != 2) return fail(error, "a comparison needs two \"args\"");
        out.operands.resize(2);
        return parse_operand((*args)[0], out.operands[0], error) && parse_operand((*args)[1], out.operands[1], error);
    }
    if (const JsonValue *tested = member("in")) {
        out.kind = FilterNode::Kind::In;
        if (!parse_type()) return false;
        const JsonValue *values = member("values");
        if (!values || !values->IsArray() || values->Empty()) return fail(error, "\"in\" needs a non-empty \"values\"");
        out.operands.resize(values->Size() + 1);
        if (!parse_operand(*tested, out.operands[0], error)) return false;
        for (rapidjson::SizeType i = 0; i < values->Size(); ++i)
            if (!parse_operand((*values)[i], out.operands[i + 1], error)) return false;
        return true;
    }
    const JsonValue *tested = member("is_null");
    out.kind = FilterNode::Kind::IsNull;
    if (!tested) {
        tested = member("not_null");
        out.kind = FilterNode::Kind::NotNull;
    }
    if (!tested) return fail(error, "unknown filter node");
    out.operands.resize(1);
    return parse_operand(*tested, out.operands[0], error);
}

// ---- evaluation ----

bool parse_bool_text(std::string s, bool &out) {
    std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
    if (s == "t" || s == "true" || s == "y" || s == "yes" || s == "on" || s == "1") return out = true, true;
    if (s == "f" || s == "false" || s == "n" || s == "no" || s == "off" || s == "0") return out = false, true;
    return false;
}

// A decimal number as sign, integer digits (no leading zeros) and fraction digits
// (no trailing zeros), so numerics compare exactly, whatever their length.
struct Decimal {
    bool negative = false;
    std::string int_digits, frac_digits;
};

std::optional<Decimal> parse_decimal(std::string_view s) {
    Decimal d;
    size_t i = 0;
    if (i < s.size() && (s[i] == '-' || s[i] == '+')) d.negative = s[i++] == '-';
    size_t dot = s.find('.', i);
    std::string_view ip = s.substr(i, dot == std::string_view::npos ? std::string_view::npos : dot - i);
    std::string_view fp = dot == std::string_view::npos ? std::string_view() : s.substr(dot + 1);
    if (ip.empty() && fp.empty()) return std::nullopt;
    for (char c : ip) if (!std::isdigit(static_cast<unsigned char>(c))) return std::nullopt;
    for (char c : fp) if (!std::isdigit(static_cast<unsigned char>(c))) return std::nullopt;
    while (!ip.empty() && ip.front() == '0') ip.remove_prefix(1);
    while (!fp.empty() && fp.back() == '0') fp.remove_suffix(1);
    d.int_digits = std::string(ip);
    d.frac_digits = std::string(fp);
    if (d.int_digits.empty() && d.frac_digits.empty()) d.negative = false;  // -0 == 0
    return d;
}

int compare_decimal(const Decimal &a, const Decimal &b) {
    if (a.negative != b.negative) return a.negative ? -1 : 1;
    int mag;
    if (a.int_digits.size() != b.int_digits.size()) mag = a.int_digits.size() < b.int_digits.size() ? -1 : 1;
    else if (int c = a.int_digits.compare(b.int_digits)) mag = c < 0 ? -1 : 1;
    else if (int f = a.frac_digits.compare(b.frac_digits)) mag = f < 0 ? -1 : 1;
    else mag = 0;
    return a.negative ? -mag : mag;
}

std::optional<std::string> as_text(const common::Value &v) {
    switch (v.kind) {
        case common::Value::Kind::Text:
        case common::Value::Kind::Numeric:
        case common::Value::Kind::OtherText:
        case common::Value::Kind::Json: return v.s;
        case common::Value::Kind::Int: return std::to_string(v.i);
        case common::Value::Kind::UInt: return std::to_string(v.u);
        case common::Value::Kind::Bool: return std::string(v.b ? "true" : "false");
        default: return std::nullopt;
    }
}

std::optional<std::string> as_uuid(const common::Value &v) {
    auto text = as_text(v);
    if (!text) return std::nullopt;
    std::string hex;
    for (char c : *text) {
        if (c == '-' || c == '{' || c == '}') continue;
        if (!std::isxdigit(static_cast<unsigned char>(c))) return std::nullopt;
        hex += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
    if (hex.size() != 32) return std::nullopt;
    return hex;
}

std::optional<long double> as_number(const common::Value &v) {
    switch (v.kind) {
        case common::Value::Kind::Int: return static_cast<long double>(v.i);
        case common::Value::Kind::UInt: return static_cast<long double>(v.u);
        case common::Value::Kind::Float: return static_cast<long double>(v.f);
        case common::Value::Kind::Text:
        case common::Value::Kind::Numeric: {
            if (v.s.empty()) return std::nullopt;
            char *end = nullptr;
            long double d = std::strtold(v.s.c_str(), &end);
            if (end != v.s.c_str() + v.s.size()) return std::nullopt;
            return d;
        }
        default: return std::nullopt;
    }
}

std::optional<Decimal> as_decimal(const common::Value &v) {
    switch (v.kind) {
        case common::Value::Kind::Int: return parse_decimal(std::to_string(v.i));
        case common::Value::Kind::UInt: return parse_decimal(std::to_string(v.u));
        case common::Value::Kind::Float: {
            if (!std::isfinite(v.f)) return std::nullopt;
            char buf[64];
            std::snprintf(buf, sizeof buf, "%.17f", v.f);
            return parse_decimal(buf);
        }
        case common::Value::Kind::Text:
        case common::Value::Kind::Numeric: return parse_decimal(v.s);
        default: return std::nullopt;
    }
}

// -1 / 0 / 1, or nullopt when either side is NULL or cannot be read as `type`.
std::optional<int> compare_values(const common::Value &a, const common::Value &b, CompareType type) {
    if (a.kind == common::Value::Kind::Null || b.kind == common::Value::Kind::Null) return std::nullopt;
    auto sign = [](auto x, auto y) { return x < y ? -1 : (y < x ? 1 : 0); };
    switch (type) {
        case CompareType::Bool: {
            bool x, y;
            auto read = [](const common::Value &v, bool &out) {
                if (v.kind == common::Value::Kind::Bool) return out = v.b, true;
                return v.kind == common::Value::Kind::Text && parse_bool_text(v.s, out);
            };
            if (!read(a, x) || !read(b, y)) return std::nullopt;
            return sign(x, y);
        }
        case CompareType::Int:
        case CompareType::Float: {
            auto x = as_number(a), y = as_number(b);
            if (!x || !y || std::isnan(static_cast<double>(*x)) || std::isnan(static_cast<double>(*y))) return std::nullopt;
            return sign(*x, *y);
        }
        case CompareType::Numeric: {
            auto x = as_decimal(a), y = as_decimal(b);
            if (!x || !y) return std::nullopt;
            return compare_decimal(*x, *y);
        }
        case CompareType::Uuid: {
            auto x = as_uuid(a), y = as_uuid(b);
            if (!x || !y) return std::nullopt;
            return sign(*x, *y);
        }
        case CompareType::Text: {
            auto x = as_text(a), y = as_text(b);
            if (!x || !y) return std::nullopt;
            int c = x->compare(*y);
            return c < 0 ? -1 : (c > 0 ? 1 : 0);
        }
    }
    return std::nullopt;
}

const common::Value kNull{};

const common::Value &resolve(const FilterOperand &o, const RowView &row, const Claims &claims) {
    switch (o.kind) {
        case FilterOperand::Kind::Column: {
            const common::Value *v = row.find(o.name);
            return v ? *v : kNull;
        }
        case FilterOperand::Kind::Claim: {
            auto it = claims.find(o.name);
            return it == claims.end() ? kNull : it->second;
        }
        case FilterOperand::Kind::Constant: return o.constant;
    }
    return kNull;
}

Truth truth(bool b) { return b ? Truth::True : Truth::False; }

void append_operand_json(std::string &out, const FilterOperand &o) {
    switch (o.kind) {
        case FilterOperand::Kind::Column: out += "{\"col\":"; append_json_string(out, o.name); break;
        case FilterOperand::Kind::Claim: out += "{\"claim\":"; append_json_string(out, o.name); break;
        case FilterOperand::Kind::Constant:
            out += "{\"value\":";
            if (o.constant.kind == common::Value::Kind::Float) {
                char buf[32];
                std::snprintf(buf, sizeof buf, "%.17g", o.constant.f);
                out += buf;
            } else {
                append_value_json(out, o.constant);
            }
            break;
    }
    out += '}';
}

}  // namespace

std::optional<FilterNode> parse_filter(std::string_view json, std::string *error) {
    rapidjson::Document doc;
    doc.Parse(json.data(), json.size());
    if (doc.HasParseError()) {
        *error = std::string("filter is not JSON: ") + rapidjson::GetParseError_En(doc.GetParseError()) +
                 " at offset " + std::to_string(doc.GetErrorOffset());
        return std::nullopt;
    }
    FilterNode node;
    if (!parse_node(doc, node, error, 0)) return std::nullopt;
    return node;
}

std::string filter_to_json(const FilterNode &n) {
    std::string out;
    switch (n.kind) {
        case FilterNode::Kind::And:
        case FilterNode::Kind::Or:
            out = n.kind == FilterNode::Kind::And ? "{\"and\":[" : "{\"or\":[";
            for (size_t i = 0; i < n.children.size(); ++i) {
                if (i) out += ',';
                out += filter_to_json(n.children[i]);
            }
            return out + "]}";
        case FilterNode::Kind::Not: return "{\"not\":" + filter_to_json(n.children[0]) + "}";
        case FilterNode::Kind::Const: return n.constant ? "{\"const\":true}" : "{\"const\":false}";
        case FilterNode::Kind::Compare:
            out = "{\"cmp\":\"" + n.op + "\",\"type\":\"" + compare_type_name(n.type) + "\",\"args\":[";
            append_operand_json(out, n.operands[0]);
            out += ',';
            append_operand_json(out, n.operands[1]);
            return out + "]}";
        case FilterNode::Kind::In:
            out = "{\"in\":";
            append_operand_json(out, n.operands[0]);
            out += ",\"type\":\"" + std::string(compare_type_name(n.type)) + "\",\"values\":[";
            for (size_t i = 1; i < n.operands.size(); ++i) {
                if (i > 1) out += ',';
                append_operand_json(out, n.operands[i]);
            }
            return out + "]}";
        case FilterNode::Kind::IsNull:
        case FilterNode::Kind::NotNull:
            out = n.kind == FilterNode::Kind::IsNull ? "{\"is_null\":" : "{\"not_null\":";
            append_operand_json(out, n.operands[0]);
            return out + "}";
    }
    return "{\"const\":false}";
}

Truth evaluate_filter(const FilterNode &n, const RowView &row, const Claims &claims) {
    switch (n.kind) {
        case FilterNode::Kind::Const: return truth(n.constant);
        case FilterNode::Kind::And: {
            Truth result = Truth::True;
            for (const FilterNode &c : n.children) {
                Truth t = evaluate_filter(c, row, claims);
                if (t == Truth::False) return Truth::False;
                if (t == Truth::Unknown) result = Truth::Unknown;
            }
            return result;
        }
        case FilterNode::Kind::Or: {
            Truth result = Truth::False;
            for (const FilterNode &c : n.children) {
                Truth t = evaluate_filter(c, row, claims);
                if (t == Truth::True) return Truth::True;
                if (t == Truth::Unknown) result = Truth::Unknown;
            }
            return result;
        }
        case FilterNode::Kind::Not: {
            Truth t = evaluate_filter(n.children[0], row, claims);
            return t == Truth::Unknown ? t : truth(t == Truth::False);
        }
        case FilterNode::Kind::Compare: {
            auto c = compare_values(resolve(n.operands[0], row, claims), resolve(n.operands[1], row, claims), n.type);
            if (!c) return Truth::Unknown;
            if (n.op == "=") return truth(*c == 0);
            if (n.op == "<>") return truth(*c != 0);
            if (n.op == "<") return truth(*c < 0);
            if (n.op == "<=") return truth(*c <= 0);
            if (n.op == ">") return truth(*c > 0);
            return truth(*c >= 0);
        }
        case FilterNode::Kind::In: {
            const common::Value &tested = resolve(n.operands[0], row, claims);
            Truth result = Truth::False;
            for (size_t i = 1; i < n.operands.size(); ++i) {
                auto c = compare_values(tested, resolve(n.operands[i], row, claims), n.type);
                if (!c) result = Truth::Unknown;
                else if (*c == 0) return Truth::True;
            }
            return result;
        }
        case FilterNode::Kind::IsNull:
        case FilterNode::Kind::NotNull: {
            bool is_null = resolve(n.operands[0], row, claims).kind == common::Value::Kind::Null;
            return truth(n.kind == FilterNode::Kind::IsNull ? is_null : !is_null);
        }
    }
    return Truth::Unknown;
}

void filter_columns(const FilterNode &n, std::vector<std::string> &out) {
    for (const FilterOperand &o : n.operands)
        if (o.kind == FilterOperand::Kind::Column &&
            std::find(out.begin(), out.end(), o.name) == out.end())
            out.push_back(o.name);
    for (const FilterNode &c : n.children) filter_columns(c, out);
}

}  // namespace livesync::common
