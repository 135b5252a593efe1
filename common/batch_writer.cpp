#include "batch_writer.hpp"

#include "change_batch.hpp"

namespace livesync::common {

namespace {
void put_be(std::string &buf, uint64_t v, int bytes) {
    for (int i = bytes - 1; i >= 0; --i) buf += static_cast<char>((v >> (8 * i)) & 0xff);
}
void patch_be32(std::string &buf, size_t at, uint32_t v) {
    for (int i = 0; i < 4; ++i) buf[at + i] = static_cast<char>((v >> (8 * (3 - i))) & 0xff);
}
// Offsets inside the batch header [0x92, version, 0xdd, count32].
constexpr size_t kTxnCountAt = 3;
// Inside a transaction, from the final flag: flag(1) 0xdd(1) count32(4).
constexpr size_t kChangeCountFromFlag = 2;
}  // namespace

void BatchWriter::clear() {
    buf_.clear();
    buf_ += static_cast<char>(0x92);           // fixarray(2)
    buf_ += static_cast<char>(kBatchVersion);  // positive fixint
    buf_ += static_cast<char>(0xdd);           // array32, count patched
    put_be(buf_, 0, 4);
    txn_start_ = 0;
    txn_count_ = 0;
    txn_changes_ = 0;
    change_count_ = 0;
    last_lsn_ = 0;
    last_part_ = 0;
    last_final_ = true;
}

void BatchWriter::begin_txn(uint64_t lsn, uint32_t xid, int64_t commit_unix_usec, uint32_t part) {
    if (in_txn()) end_txn(true);
    int64_t sec = commit_unix_usec / 1000000;
    int64_t usec = commit_unix_usec % 1000000;
    if (usec < 0) {
        usec += 1000000;
        sec -= 1;
    }
    buf_ += static_cast<char>(0x96);  // fixarray(6)
    buf_ += static_cast<char>(0xcf);  // uint64 lsn
    put_be(buf_, lsn, 8);
    buf_ += static_cast<char>(0xce);  // uint32 xid
    put_be(buf_, xid, 4);
    buf_ += static_cast<char>(0xc7);  // ext8, 12 bytes, type -1: timestamp96
    buf_ += static_cast<char>(12);
    buf_ += static_cast<char>(kExtTimestamp);
    put_be(buf_, static_cast<uint64_t>(usec * 1000), 4);
    put_be(buf_, static_cast<uint64_t>(sec), 8);
    buf_ += static_cast<char>(0xce);  // uint32 part
    put_be(buf_, part, 4);
    txn_start_ = buf_.size();
    buf_ += static_cast<char>(0xc3);  // final flag, patched in end_txn
    buf_ += static_cast<char>(0xdd);  // array32 of changes, patched in end_txn
    put_be(buf_, 0, 4);
    txn_changes_ = 0;
    last_lsn_ = lsn;
    last_part_ = part;
    last_final_ = false;
}

void BatchWriter::add_change(std::string_view change_msgpack) {
    buf_.append(change_msgpack.data(), change_msgpack.size());
    ++txn_changes_;
    ++change_count_;
}

void BatchWriter::end_txn(bool final) {
    if (!in_txn()) return;
    buf_[txn_start_] = static_cast<char>(final ? 0xc3 : 0xc2);
    patch_be32(buf_, txn_start_ + kChangeCountFromFlag, txn_changes_);
    txn_start_ = 0;
    ++txn_count_;
    last_final_ = final;
}

std::string_view BatchWriter::bytes() {
    patch_be32(buf_, kTxnCountAt, txn_count_);
    return buf_;
}

}  // namespace livesync::common
