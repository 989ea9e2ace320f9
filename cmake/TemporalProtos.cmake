# Builds the Temporal API protos (fetched at configure time, never committed) into one static
# library, `temporal_api`. The generated code is large, so it is compiled once, at -O1, without
# debug info and without warnings.
#
# EON_TEMPORAL_API_FROM=<another build dir> reuses that build's compiled library and generated
# headers instead (the sanitizer build does, so the large generated code compiles once).

set(EON_TEMPORAL_API_FROM "" CACHE PATH "A build folder whose temporal_api library to reuse")
if(EON_TEMPORAL_API_FROM)
  find_program(PROTOC protoc REQUIRED)
  if(NOT EXISTS "${EON_TEMPORAL_API_FROM}/libtemporal_api.a")
    message(FATAL_ERROR "${EON_TEMPORAL_API_FROM}/libtemporal_api.a does not exist: build it first")
  endif()
  add_library(temporal_api STATIC IMPORTED GLOBAL)
  set_target_properties(temporal_api PROPERTIES
    IMPORTED_LOCATION "${EON_TEMPORAL_API_FROM}/libtemporal_api.a")
  target_include_directories(temporal_api SYSTEM INTERFACE "${EON_TEMPORAL_API_FROM}/gen")
  target_link_libraries(temporal_api INTERFACE protobuf::libprotobuf gRPC::grpc++)
  set(EON_TEMPORAL_GEN_DIR "${EON_TEMPORAL_API_FROM}/gen")
  set(EON_TEMPORAL_PROTO_INCLUDE "${EON_TEMPORAL_API_FROM}/temporal-protos/src")
  return()
endif()

set(EON_PROTO_DIR "${CMAKE_BINARY_DIR}/temporal-protos")
if(NOT EXISTS "${EON_PROTO_DIR}/proto-files.txt")
  message(STATUS "Fetching the Temporal API protos into ${EON_PROTO_DIR}")
  execute_process(
    COMMAND "${CMAKE_SOURCE_DIR}/scripts/fetch-protos.sh" "${EON_PROTO_DIR}"
    RESULT_VARIABLE fetch_result)
  if(NOT fetch_result EQUAL 0)
    message(FATAL_ERROR "Could not fetch the Temporal API protos (see the output above)")
  endif()
endif()

find_program(PROTOC protoc REQUIRED)
find_program(GRPC_CPP_PLUGIN grpc_cpp_plugin REQUIRED)

file(STRINGS "${EON_PROTO_DIR}/proto-files.txt" temporal_proto_files)
set(gen_dir "${CMAKE_BINARY_DIR}/gen")
set(gen_sources)
set(grpc_protos)
foreach(proto IN LISTS temporal_proto_files)
  file(RELATIVE_PATH rel "${EON_PROTO_DIR}/src" "${proto}")
  string(REGEX REPLACE "\\.proto$" "" stem "${rel}")
  list(APPEND gen_sources "${gen_dir}/${stem}.pb.cc")
  if(rel MATCHES "service/v1/service\\.proto$")
    list(APPEND grpc_protos "${rel}")
    list(APPEND gen_sources "${gen_dir}/${stem}.grpc.pb.cc")
  endif()
endforeach()

# One protoc run for all files: it is fast, and it keeps the rule simple.
set(proto_rel_files)
foreach(proto IN LISTS temporal_proto_files)
  file(RELATIVE_PATH rel "${EON_PROTO_DIR}/src" "${proto}")
  list(APPEND proto_rel_files "${rel}")
endforeach()
add_custom_command(
  OUTPUT ${gen_sources}
  COMMAND ${CMAKE_COMMAND} -E make_directory "${gen_dir}"
  COMMAND ${PROTOC} -I "${EON_PROTO_DIR}/src" --cpp_out "${gen_dir}" ${proto_rel_files}
  COMMAND ${PROTOC} -I "${EON_PROTO_DIR}/src" --grpc_out "${gen_dir}"
          --plugin=protoc-gen-grpc=${GRPC_CPP_PLUGIN} ${grpc_protos}
  WORKING_DIRECTORY "${EON_PROTO_DIR}/src"
  DEPENDS ${temporal_proto_files}
  COMMENT "Generating C++ from the Temporal API protos")

add_library(temporal_api STATIC ${gen_sources})
target_include_directories(temporal_api SYSTEM PUBLIC "$<BUILD_INTERFACE:${gen_dir}>"
                                                  "$<INSTALL_INTERFACE:include>")
set(EON_TEMPORAL_GEN_DIR "${gen_dir}")
target_link_libraries(temporal_api PUBLIC protobuf::libprotobuf gRPC::grpc++)
# GCC and Clang predefine the macro `linux` in GNU modes (-std=gnu++20, CMake's default when a
# project does not turn CMAKE_CXX_EXTENSIONS off), which breaks the generated accessors of the
# field `linux` in temporal/api/worker/v1/message.proto. Eon turns extensions off; projects using
# the installed SDK get the macro undefined.
target_compile_options(temporal_api INTERFACE
  "$<INSTALL_INTERFACE:$<$<CXX_COMPILER_ID:GNU,Clang,AppleClang>:-Ulinux>>")
target_compile_options(temporal_api PRIVATE -w -O1 -g0)
set(EON_TEMPORAL_PROTO_INCLUDE "${EON_PROTO_DIR}/src")
