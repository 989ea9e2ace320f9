# What keeps a cold build within CI's time: unity builds (EON_UNITY), precompiled headers in the
# clang builds (eon_precompile_headers) and test code at -O1 in the release build
# (eon_test_code).
#
# Unity builds (EON_UNITY, on by default): CMake compiles each target's files in batches of
# EON_UNITY_BATCH, one compiler run per batch that includes the batch's files, so the headers
# every file reads (the generated Temporal API, gRPC, protobuf, the standard library) are parsed
# and their inline functions compiled once per batch instead of once per file. Measured on
# 2026-12-02 (GCC, -O3, 2 cores, empty ccache): four small frontend files took 17.5 s compiled
# together and 41.4 s apart; the whole release build 614 s against 975 to 1082 s file by file.
# The files of a batch share one translation unit: names local to a file (anonymous namespaces,
# `static`) must not collide with another file's. Two definitions of one name fail the build;
# two functions of one name with different parameters silently make one overload set, so
# file-local helpers get names that say what they do. -DEON_UNITY=OFF compiles file by file (the
# quicker choice for editing one file again and again).
option(EON_UNITY "Compile each target's files in batches (unity build)" ON)
set(EON_UNITY_BATCH 8 CACHE STRING "Files per unity batch")
if(EON_UNITY)
  set(CMAKE_UNITY_BUILD ON)
  set(CMAKE_UNITY_BUILD_BATCH_SIZE ${EON_UNITY_BATCH})
endif()

# eon_unity_generated_protos(<target>): protoc's C++ output in batches as well. Each generated
# .pb.cc defines two file-local arrays under the same names (`schemas`,
# `file_default_instances`); around each file of a batch those names are renamed by macro to
# names unique to the file (CMake defines EON_UNITY_FILE_ID per file). The protobuf header that
# declares a field `schemas` is read first, before the rename applies.
function(eon_unity_generated_protos target)
  if(NOT EON_UNITY)
    return()
  endif()
  set(before
    "#include <google/protobuf/generated_message_reflection.h>"
    "#define EON_UNITY_CAT_(name, id) name##_##id"
    "#define EON_UNITY_CAT(name, id) EON_UNITY_CAT_(name, id)"
    "#define schemas EON_UNITY_CAT(schemas, EON_UNITY_FILE_ID)"
    "#define file_default_instances EON_UNITY_CAT(file_default_instances, EON_UNITY_FILE_ID)")
  list(JOIN before "\n" before)
  set_target_properties(${target} PROPERTIES
    UNITY_BUILD ON
    UNITY_BUILD_BATCH_SIZE ${EON_UNITY_BATCH}
    UNITY_BUILD_UNIQUE_ID EON_UNITY_FILE_ID
    UNITY_BUILD_CODE_BEFORE_INCLUDE "${before}"
    UNITY_BUILD_CODE_AFTER_INCLUDE "#undef schemas\n#undef file_default_instances")
endfunction()
#
# Precompiled headers for Eon's larger targets in the clang builds (the sanitizer trees of
# scripts/sanitize.sh; EON_PCH).
#
# Much of an instrumented compile of one of Eon's files is spent reading the same headers: the
# generated Temporal API (workflowservice's request_response.pb.h pulls in most of it), gRPC and
# the standard library. Each target below reads them once into a precompiled header and every
# file of the target starts from it. The headers are only added, never relied on: each file
# still includes what it uses, so a build with -DEON_PCH=OFF compiles the same code.
#
# Not with GCC (the release build): its precompiled header of these headers is 780 MB, takes two
# minutes to build per target and about 25 s to load in every file, so files that took 4 s took
# 30 s (measured 2026-12-02). clang loads a precompiled header lazily.
#
# ccache caches these compiles once it may ignore the precompiled header's timestamp and the
# __DATE__/__TIME__ macros (CCACHE_SLOPPINESS, set on the launcher below, for these builds only).
if(CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
  set(eon_pch_default ON)
else()
  set(eon_pch_default OFF)
endif()
option(EON_PCH "Precompile the headers Eon's files share (clang builds)" ${eon_pch_default})
if(EON_PCH AND CCACHE_PROGRAM)
  set(CMAKE_CXX_COMPILER_LAUNCHER "${CMAKE_COMMAND}" -E env
      "CCACHE_SLOPPINESS=pch_defines,time_macros,include_file_mtime,include_file_ctime"
      "${CCACHE_PROGRAM}")
endif()

set(eon_pch_common
  <algorithm> <atomic> <chrono> <functional> <map> <memory> <mutex> <optional> <set> <string>
  <string_view> <thread> <unordered_map> <utility> <vector>
  <google/protobuf/util/time_util.h>
  <grpcpp/grpcpp.h>
  <nlohmann/json.hpp>
  "${EON_TEMPORAL_GEN_DIR}/temporal/api/workflowservice/v1/request_response.pb.h"
  "${EON_TEMPORAL_GEN_DIR}/temporal/api/workflowservice/v1/service.grpc.pb.h"
  "${EON_TEMPORAL_GEN_DIR}/temporal/api/history/v1/message.pb.h")

# eon_precompile_headers(<target> [TESTS]): TESTS adds GoogleTest and GoogleMock.
function(eon_precompile_headers target)
  if(NOT EON_PCH)
    return()
  endif()
  cmake_parse_arguments(PARSE_ARGV 1 arg "TESTS" "" "")
  set(headers ${eon_pch_common})
  if(arg_TESTS)
    list(APPEND headers <gtest/gtest.h> <gmock/gmock.h>)
  endif()
  target_precompile_headers(${target} PRIVATE ${headers})
endfunction()

# eon_test_code(<target>...): test programs and examples compile at -O1 in the release build
# (the code they test, eon_core and eon_sdk, keeps -O3). Measured on 2026-12-02: the unit tests'
# largest file took 43.5 s at -O3 and 29.5 s at -O1; test and example code was about 38% of a
# cold release build's compile time. The sanitizer builds are at -O1 throughout already.
function(eon_test_code)
  foreach(target IN LISTS ARGN)
    target_compile_options(${target} PRIVATE "$<$<CONFIG:Release>:-O1>")
  endforeach()
endfunction()
