// The one C++ <-> Postgres error boundary of the extension.
//
//  - guard_cpp(): wraps every entry point Postgres calls. A C++ exception thrown below
//    is caught here and re-raised as ereport(ERROR) *after* the catch block has ended,
//    so the exception object is destroyed before Postgres longjmps.
//  - pg_call(): wraps a call from C++ into Postgres. An ereport(ERROR) inside it is
//    caught with PG_TRY, the error stack is restored, and it continues as a C++
//    PgError exception, so destructors of the C++ frames above it do run.
//    The callable itself must own nothing with a destructor (a longjmp skips it).
#pragma once

extern "C" {
#include "postgres.h"

#include "utils/elog.h"
#include "utils/memutils.h"
}

#include <cstring>
#include <exception>
#include <new>
#include <string>
#include <utility>

namespace livesync::extension {

// A Postgres error that surfaced inside C++; carries the original error's fields.
class PgError : public std::exception {
public:
    PgError(int sqlerrcode, std::string message, std::string detail)
        : sqlerrcode_(sqlerrcode), message_(std::move(message)), detail_(std::move(detail)) {}
    const char *what() const noexcept override { return message_.c_str(); }
    int sqlerrcode() const { return sqlerrcode_; }
    const std::string &detail() const { return detail_; }

private:
    int sqlerrcode_;
    std::string message_;
    std::string detail_;
};

template <typename Fn>
void pg_call(Fn &&fn) {
    MemoryContext caller_context = CurrentMemoryContext;
    ErrorData *edata = nullptr;
    PG_TRY();
    {
        fn();
    }
    PG_CATCH();
    {
        MemoryContextSwitchTo(caller_context);
        edata = CopyErrorData();
        FlushErrorState();
    }
    PG_END_TRY();
    if (edata != nullptr) {
        PgError err(edata->sqlerrcode, edata->message ? edata->message : "unknown error",
                    edata->detail ? edata->detail : "");
        FreeErrorData(edata);
        throw err;
    }
}

// Runs fn; any C++ exception becomes ereport(ERROR) once the C++ frames are unwound.
template <typename Fn>
auto guard_cpp(const char *where, Fn &&fn) -> decltype(fn()) {
    char message[512];
    int sqlerrcode = ERRCODE_INTERNAL_ERROR;
    message[0] = '\0';
    try {
        return fn();
    } catch (const PgError &e) {
        sqlerrcode = e.sqlerrcode();
        std::strncpy(message, e.what(), sizeof message - 1);
    } catch (const std::bad_alloc &) {
        sqlerrcode = ERRCODE_OUT_OF_MEMORY;
        std::strncpy(message, "out of memory", sizeof message - 1);
    } catch (const std::exception &e) {
        std::strncpy(message, e.what(), sizeof message - 1);
    } catch (...) {
        std::strncpy(message, "unknown C++ exception", sizeof message - 1);
    }
    message[sizeof message - 1] = '\0';
    ereport(ERROR, (errcode(sqlerrcode), errmsg("livesync: %s: %s", where, message)));
    pg_unreachable();
}

}  // namespace livesync::extension
