// The one C++ <-> Postgres error boundary of the extension.
//
//  - guard_cpp(): wraps every entry point Postgres calls. A C++ exception thrown below
//    is caught here and re-raised as ereport(ERROR) *after* the catch block has ended,
//    so the exception object is destroyed before Postgres longjmps.
//  - pg_call(): wraps a call from C++ into Postgres. An ereport(ERROR) inside it is
//    caught with PG_TRY, the error stack is restored, and it continues as a C++
//    PgError exception (SQLSTATE, message, detail and hint), so destructors of the
//    C++ frames above it do run. The callable itself must own nothing with a
//    destructor (a longjmp skips it).
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
    PgError(int sqlerrcode, std::string message, std::string detail, std::string hint = std::string())
        : sqlerrcode_(sqlerrcode), message_(std::move(message)), detail_(std::move(detail)), hint_(std::move(hint)) {}
    const char *what() const noexcept override { return message_.c_str(); }
    int sqlerrcode() const { return sqlerrcode_; }
    const std::string &detail() const { return detail_; }
    const std::string &hint() const { return hint_; }

private:
    int sqlerrcode_;
    std::string message_;
    std::string detail_;
    std::string hint_;
};

// Runs fn, which must own nothing with a destructor; a Postgres ERROR inside it is
// thrown on as PgError (code, message, detail and hint kept). Interrupts (a cancel)
// raised inside fn surface the same way, so the C++ frames above unwind.
template <typename Fn>
void pg_call(Fn &&fn) {
    MemoryContext caller_context = CurrentMemoryContext;
    ErrorData *edata = nullptr;
    // A C++ exception out of fn must not leave the PG_TRY block (PG_exception_stack
    // would keep pointing into this dead frame): caught inside, thrown on after it.
    std::exception_ptr cpp_error;
    PG_TRY();
    {
        try {
            fn();
        } catch (...) {
            cpp_error = std::current_exception();
        }
    }
    PG_CATCH();
    {
        MemoryContextSwitchTo(caller_context);
        edata = CopyErrorData();
        FlushErrorState();
    }
    PG_END_TRY();
    if (cpp_error) std::rethrow_exception(cpp_error);
    if (edata != nullptr) {
        int sqlerrcode = edata->sqlerrcode;
        std::string message, detail, hint;
        try {
            message = edata->message ? edata->message : "unknown error";
            if (edata->detail) detail = edata->detail;
            if (edata->hint) hint = edata->hint;
        } catch (...) {
            FreeErrorData(edata);
            throw;
        }
        FreeErrorData(edata);
        throw PgError(sqlerrcode, std::move(message), std::move(detail), std::move(hint));
    }
}

// Runs fn; any C++ exception becomes ereport(ERROR) once the C++ frames are unwound.
// The error raised after the C++ frames are gone: its text lives in fixed buffers (the
// exception that carried it is destroyed by then; nothing is allocated on this path).
struct GuardedError {
    int sqlerrcode = ERRCODE_INTERNAL_ERROR;
    char message[1024] = "";
    char detail[1024] = "";
    char hint[512] = "";

    static void copy(char *to, size_t size, const char *from) {
        std::strncpy(to, from, size - 1);
        to[size - 1] = '\0';
    }
};

// Runs fn; any C++ exception becomes ereport(ERROR) once the C++ frames are unwound. A
// PgError keeps its SQLSTATE, detail and hint. As pg_duckdb's guard: should an
// exception have left a PG_TRY block below without restoring Postgres' error stacks,
// they are put back (and a WARNING says so) before the ERROR is raised.
template <typename Fn>
auto guard_cpp(const char *where, Fn &&fn) -> decltype(fn()) {
    sigjmp_buf *saved_exception_stack = PG_exception_stack;
    ErrorContextCallback *saved_context_stack = error_context_stack;
    GuardedError e;
    try {
        return fn();
    } catch (const PgError &pg) {
        e.sqlerrcode = pg.sqlerrcode();
        GuardedError::copy(e.message, sizeof e.message, pg.what());
        GuardedError::copy(e.detail, sizeof e.detail, pg.detail().c_str());
        GuardedError::copy(e.hint, sizeof e.hint, pg.hint().c_str());
    } catch (const std::bad_alloc &) {
        e.sqlerrcode = ERRCODE_OUT_OF_MEMORY;
        GuardedError::copy(e.message, sizeof e.message, "out of memory");
    } catch (const std::exception &ex) {
        GuardedError::copy(e.message, sizeof e.message, ex.what());
    } catch (...) {
        GuardedError::copy(e.message, sizeof e.message, "unknown C++ exception");
    }
    if (PG_exception_stack != saved_exception_stack || error_context_stack != saved_context_stack) {
        PG_exception_stack = saved_exception_stack;
        error_context_stack = saved_context_stack;
        ereport(WARNING, (errmsg("livesync: %s: an exception skipped a Postgres error handler; restored", where)));
    }
    ereport(ERROR, (errcode(e.sqlerrcode), errmsg("livesync: %s: %s", where, e.message),
                    e.detail[0] ? errdetail_internal("%s", e.detail) : 0, e.hint[0] ? errhint("%s", e.hint) : 0));
    pg_unreachable();
}

}  // namespace livesync::extension
