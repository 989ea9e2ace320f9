// Payloads: how values travel between workflows, activities, clients and other SDKs.
//
// The encodings are Temporal's standard ones, so a C++ workflow can call a TypeScript, Go or
// Java activity and back:
//   - std::monostate / std::nullptr_t      -> "binary/null" (no data)
//   - eon::sdk::Bytes                      -> "binary/plain" (raw bytes)
//   - any google::protobuf::Message        -> "json/protobuf" (metadata messageType = full name)
//   - everything else                      -> "json/plain" through nlohmann::json, so every type
//                                             with to_json/from_json (std::string, numbers,
//                                             vectors, maps, optionals, your own structs with
//                                             NLOHMANN_DEFINE_TYPE_INTRUSIVE...) works.
// Decoding accepts any of the four encodings where the target type allows it ("binary/null"
// decodes to a JSON null, so std::optional<T> becomes nullopt).
//
// A PayloadCodec (for example encryption) transforms every payload the SDK sends after it is
// serialized and every payload it receives before it is deserialized. Search attributes are
// never encoded: the server has to read them.
#pragma once

#include <google/protobuf/message.h>

#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <variant>
#include <vector>

#include "temporal/api/common/v1/message.pb.h"

// std::optional <-> JSON (null when empty): nlohmann/json 3.11 has no conversion of its own.
namespace nlohmann {
template <typename T>
struct adl_serializer<std::optional<T>> {
  template <typename Json>
  static void to_json(Json& j, const std::optional<T>& value) {
    if (value.has_value()) {
      j = *value;
    } else {
      j = nullptr;
    }
  }
  template <typename Json>
  static void from_json(const Json& j, std::optional<T>& value) {
    if (j.is_null()) {
      value = std::nullopt;
    } else {
      value = j.template get<T>();
    }
  }
};
}  // namespace nlohmann

namespace eon::sdk {

using Payload = temporal::api::common::v1::Payload;
using Payloads = temporal::api::common::v1::Payloads;

// Raw bytes, sent as "binary/plain".
struct Bytes {
  std::string data;
  bool operator==(const Bytes&) const = default;
};

// Thrown when a payload cannot be turned into the requested type (wrong encoding, bad JSON, a
// JSON value of another shape). Inside a workflow it fails the workflow task, so a fixed worker
// can retry it; the client reports it as an INVALID_ARGUMENT Error.
class PayloadError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Transforms payloads on their way out (Encode) and in (Decode); Decode(Encode(p)) == p.
// Implementations must be thread-safe: workers call them from several threads.
class PayloadCodec {
 public:
  virtual ~PayloadCodec() = default;
  virtual Payload Encode(const Payload& payload) const = 0;
  // Throws PayloadError when the payload cannot be decoded.
  virtual Payload Decode(const Payload& payload) const = 0;
};

namespace encoding {
inline constexpr const char* kNull = "binary/null";
inline constexpr const char* kBinary = "binary/plain";
inline constexpr const char* kJson = "json/plain";
inline constexpr const char* kProtobufJson = "json/protobuf";
}  // namespace encoding

namespace internal {
Payload NullPayload();
Payload BinaryPayload(const std::string& bytes);
Payload JsonPayload(const nlohmann::json& value);
Payload ProtoPayload(const google::protobuf::Message& message);
std::string PayloadEncoding(const Payload& payload);
// Reads a json/plain or binary/null payload (null) as JSON; throws PayloadError otherwise.
nlohmann::json PayloadJson(const Payload& payload);
std::string PayloadBytes(const Payload& payload);
void PayloadToProto(const Payload& payload, google::protobuf::Message* message);
}  // namespace internal

// Serializes one value into an unencoded payload (no codec applied).
template <typename T>
Payload ToPayload(const T& value) {
  using V = std::decay_t<T>;
  if constexpr (std::is_same_v<V, std::monostate> || std::is_same_v<V, std::nullptr_t>) {
    return internal::NullPayload();
  } else if constexpr (std::is_same_v<V, Bytes>) {
    return internal::BinaryPayload(value.data);
  } else if constexpr (std::is_same_v<V, Payload>) {
    return value;
  } else if constexpr (std::is_base_of_v<google::protobuf::Message, V>) {
    return internal::ProtoPayload(value);
  } else {
    return internal::JsonPayload(nlohmann::json(value));
  }
}

// Deserializes one unencoded payload. Throws PayloadError.
template <typename T>
T FromPayload(const Payload& payload) {
  using V = std::decay_t<T>;
  if constexpr (std::is_same_v<V, std::monostate> || std::is_same_v<V, std::nullptr_t>) {
    return V{};
  } else if constexpr (std::is_same_v<V, Bytes>) {
    return Bytes{internal::PayloadBytes(payload)};
  } else if constexpr (std::is_same_v<V, Payload>) {
    return payload;
  } else if constexpr (std::is_base_of_v<google::protobuf::Message, V>) {
    V message;
    internal::PayloadToProto(payload, &message);
    return message;
  } else {
    nlohmann::json json = internal::PayloadJson(payload);
    try {
      return json.get<V>();
    } catch (const nlohmann::json::exception& e) {
      throw PayloadError(std::string("cannot read payload ") + json.dump().substr(0, 200) +
                         " as the requested type: " + e.what());
    }
  }
}

// Serialization plus the optional codec. Cheap to copy (the codec is shared: its lifetime is
// that of the longest-lived client or worker using it).
class DataConverter {
 public:
  DataConverter() = default;
  explicit DataConverter(std::shared_ptr<const PayloadCodec> codec) : codec_(std::move(codec)) {}

  template <typename T>
  Payload Encode(const T& value) const {
    return ApplyEncode(ToPayload(value));
  }
  template <typename T>
  T Decode(const Payload& payload) const {
    return FromPayload<T>(ApplyDecode(payload));
  }
  template <typename... A>
  Payloads EncodeAll(const A&... values) const {
    Payloads payloads;
    (void)std::initializer_list<int>{(*payloads.add_payloads() = Encode(values), 0)...};
    return payloads;
  }

  Payload ApplyEncode(Payload payload) const;
  Payload ApplyDecode(const Payload& payload) const;
  const PayloadCodec* codec() const { return codec_.get(); }

 private:
  std::shared_ptr<const PayloadCodec> codec_;
};

}  // namespace eon::sdk
