# livesync Postgres extension (PGXS): `make && make install`, then
# shared_preload_libraries = 'livesync' and CREATE EXTENSION livesync.
# The sidecar, the client and the unit tests are built with CMake (CMakeLists.txt).

MODULE_big = livesync
OBJS = \
	extension/livesync.o \
	extension/config_drop.o \
	extension/plugin/output_plugin.o \
	extension/plugin/change_encoder.o \
	extension/plugin/value_encoder.o \
	extension/plugin/published_tables.o \
	extension/worker/replicator.o \
	extension/worker/slot_stream.o \
	extension/worker/redis_link.o \
	extension/worker/published_config.o \
	extension/worker/registry_sweep.o \
	extension/worker/stream_retention.o \
	extension/worker/worker_wait.o \
	extension/sql_api/worker_state.o \
	extension/sql_api/compile_filter.o \
	extension/sql_api/registry_functions.o \
	extension/sql_api/encode_row.o \
	extension/sql_api/snapshot_pages.o \
	common/filter_tree.o \
	common/change_batch.o \
	common/batch_writer.o \
	common/msgpack_guard.o \
	common/lsn.o \
	common/redis_url.o

MODULEDIR = extension
DATA = sql/livesync.control sql/livesync--0.1.sql sql/livesync--0.1--0.2.sql sql/livesync--0.2--0.3.sql sql/livesync--0.3--0.4.sql
PGFILEDESC = "livesync - stream committed changes to live clients"

PG_CONFIG ?= pg_config
PG_CPPFLAGS = -I$(CURDIR) -I$(shell $(PG_CONFIG) --includedir)
PG_CXXFLAGS = -std=c++17 -fno-strict-aliasing -Wno-register -Wno-missing-field-initializers -MMD -MP
SHLIB_LINK = -lpq -lhiredis -lmsgpackc -lcurl -lstdc++

# C++ objects are not compiled to LLVM bitcode (that needs clang++ of Postgres' build).
override with_llvm = no

# (Set before including PGXS, which tests it with ifdef.)
EXTRA_CLEAN = $(OBJS:.o=.d) tools/livesync-dump/livesync-dump

PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# Header dependencies (-MMD above), so a change to a header rebuilds what includes it.
-include $(OBJS:.o=.d)

.PHONY: sidecar
sidecar:
	cmake -S . -B build -DCMAKE_BUILD_TYPE=Release && cmake --build build -j2

# tools/livesync-dump: prints a change stream as JSON lines (tests count rows with it).
DUMP_SRCS = tools/livesync-dump/livesync_dump.cpp common/change_batch.cpp common/msgpack_guard.cpp common/redis_url.cpp
.PHONY: dump-tool
dump-tool: tools/livesync-dump/livesync-dump
tools/livesync-dump/livesync-dump: $(DUMP_SRCS) common/change_batch.hpp common/redis_url.hpp
	$(CXX) -std=c++17 -O2 -Wall -Wextra -I$(CURDIR) -o $@ $(DUMP_SRCS) -lhiredis -lmsgpackc
