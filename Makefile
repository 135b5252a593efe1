# livesync Postgres extension (PGXS): `make && make install`, then
# shared_preload_libraries = 'livesync' and CREATE EXTENSION livesync.
# The sidecar, the client and the unit tests are built with CMake (CMakeLists.txt).

MODULE_big = livesync
OBJS = \
	extension/livesync.o \
	extension/plugin/output_plugin.o \
	extension/plugin/change_encoder.o \
	extension/plugin/published_tables.o \
	extension/worker/replicator.o \
	extension/worker/slot_stream.o \
	extension/worker/redis_link.o \
	extension/worker/published_config.o \
	extension/worker/worker_wait.o \
	extension/sql_api/worker_state.o \
	common/change_batch.o \
	common/batch_writer.o \
	common/lsn.o \
	common/redis_url.o

MODULEDIR = extension
DATA = sql/livesync.control sql/livesync--0.1.sql
PGFILEDESC = "livesync - stream committed changes to live clients"

PG_CONFIG ?= pg_config
PG_CPPFLAGS = -I$(CURDIR) -I$(shell $(PG_CONFIG) --includedir)
PG_CXXFLAGS = -std=c++17 -fno-strict-aliasing -Wno-register -Wno-missing-field-initializers
SHLIB_LINK = -lpq -lhiredis -lmsgpackc -lstdc++

# C++ objects are not compiled to LLVM bitcode (that needs clang++ of Postgres' build).
override with_llvm = no

PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

.PHONY: sidecar
sidecar:
	cmake -S . -B build -DCMAKE_BUILD_TYPE=Release && cmake --build build -j2
