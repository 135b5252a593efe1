// Test helper: packs change maps (the output plugin's kTagChange payload) with
// msgpack-c, so unit tests can build batches through the real BatchWriter.
#pragma once

#include <msgpack.h>

#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "common/batch_writer.hpp"

namespace livesync::test {

using PackValue = std::function<void(msgpack_packer &)>;
using Columns = std::vector<std::pair<std::string, PackValue>>;

inline int append_to_string(void *data, const char *buf, size_t len) {
    static_cast<std::string *>(data)->append(buf, len);
    return 0;
}

inline void pack_str(msgpack_packer &pk, const std::string &s) {
    msgpack_pack_str(&pk, s.size());
    msgpack_pack_str_body(&pk, s.data(), s.size());
}

inline PackValue nil() { return [](msgpack_packer &pk) { msgpack_pack_nil(&pk); }; }
inline PackValue i64(int64_t v) { return [v](msgpack_packer &pk) { msgpack_pack_int64(&pk, v); }; }
inline PackValue u64(uint64_t v) { return [v](msgpack_packer &pk) { msgpack_pack_uint64(&pk, v); }; }
inline PackValue f64(double v) { return [v](msgpack_packer &pk) { msgpack_pack_double(&pk, v); }; }
inline PackValue boolean(bool v) {
    return [v](msgpack_packer &pk) { v ? msgpack_pack_true(&pk) : msgpack_pack_false(&pk); };
}
inline PackValue str(std::string s) { return [s](msgpack_packer &pk) { pack_str(pk, s); }; }
inline PackValue bin(std::string s) {
    return [s](msgpack_packer &pk) {
        msgpack_pack_bin(&pk, s.size());
        msgpack_pack_bin_body(&pk, s.data(), s.size());
    };
}
inline PackValue ext(int8_t type, std::string s) {
    return [type, s](msgpack_packer &pk) {
        msgpack_pack_ext(&pk, s.size(), type);
        msgpack_pack_ext_body(&pk, s.data(), s.size());
    };
}
inline PackValue timestamp(int64_t sec, uint32_t nsec) {
    return [sec, nsec](msgpack_packer &pk) {
        msgpack_timestamp ts{sec, nsec};
        msgpack_pack_timestamp(&pk, &ts);
    };
}

// op is "i", "u" or "d"; empty column lists are left out of the map.
inline std::string change(const std::string &op, const std::string &schema, const std::string &table,
                          const Columns &new_cols, const Columns &old_cols = {},
                          const std::vector<std::string> &unchanged = {}) {
    std::string out;
    msgpack_packer pk;
    msgpack_packer_init(&pk, &out, append_to_string);
    size_t n = 3 + !new_cols.empty() + !old_cols.empty() + !unchanged.empty();
    msgpack_pack_map(&pk, n);
    pack_str(pk, "op");
    pack_str(pk, op);
    pack_str(pk, "schema");
    pack_str(pk, schema);
    pack_str(pk, "table");
    pack_str(pk, table);
    auto pack_cols = [&](const char *key, const Columns &cols) {
        if (cols.empty()) return;
        pack_str(pk, key);
        msgpack_pack_map(&pk, cols.size());
        for (const auto &[name, value] : cols) {
            pack_str(pk, name);
            value(pk);
        }
    };
    pack_cols("new", new_cols);
    pack_cols("old", old_cols);
    if (!unchanged.empty()) {
        pack_str(pk, "unchanged");
        msgpack_pack_array(&pk, unchanged.size());
        for (const auto &c : unchanged) pack_str(pk, c);
    }
    return out;
}

// A TRUNCATE of the given (schema, table) pairs.
inline std::string truncate(const std::vector<std::pair<std::string, std::string>> &relations) {
    std::string out;
    msgpack_packer pk;
    msgpack_packer_init(&pk, &out, append_to_string);
    msgpack_pack_map(&pk, 4);
    pack_str(pk, "op");
    pack_str(pk, "t");
    pack_str(pk, "relations");
    msgpack_pack_array(&pk, relations.size());
    for (const auto &[schema, table] : relations) {
        msgpack_pack_array(&pk, 2);
        pack_str(pk, schema);
        pack_str(pk, table);
    }
    pack_str(pk, "cascade");
    msgpack_pack_false(&pk);
    pack_str(pk, "restart_identity");
    msgpack_pack_false(&pk);
    return out;
}

// A schema change (DDL on a published table): its columns as [name, type] pairs.
inline std::string schema_change(const std::string &schema, const std::string &table,
                                 const std::vector<std::pair<std::string, std::string>> &columns) {
    std::string out;
    msgpack_packer pk;
    msgpack_packer_init(&pk, &out, append_to_string);
    msgpack_pack_map(&pk, 4);
    pack_str(pk, "op");
    pack_str(pk, "s");
    pack_str(pk, "schema");
    pack_str(pk, schema);
    pack_str(pk, "table");
    pack_str(pk, table);
    pack_str(pk, "columns");
    msgpack_pack_array(&pk, columns.size());
    for (const auto &[name, type] : columns) {
        msgpack_pack_array(&pk, 2);
        pack_str(pk, name);
        pack_str(pk, type);
    }
    return out;
}

// A one-transaction batch.
inline std::string batch(uint64_t lsn, uint32_t xid, const std::vector<std::string> &changes) {
    common::BatchWriter w;
    w.begin_txn(lsn, xid, 1764060208123456LL, 0);
    for (const auto &c : changes) w.add_change(c);
    w.end_txn(true);
    return std::string(w.bytes());
}

}  // namespace livesync::test
