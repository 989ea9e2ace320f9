// Temporal's standard payload encodings (binary/null, binary/plain, json/plain, json/protobuf),
// byte for byte what the Go and TypeScript SDKs produce and accept.
#include "eon/sdk/payload.h"

#include <google/protobuf/util/json_util.h>

#include <string>

namespace eon::sdk {

namespace {

constexpr const char* kEncodingKey = "encoding";
constexpr const char* kMessageTypeKey = "messageType";
// Read by the TypeScript and Go SDKs, which send protobuf as binary when asked to.
constexpr const char* kProtobufBinary = "binary/protobuf";

Payload PayloadWithEncoding(const char* encoding) {
  Payload payload;
  (*payload.mutable_metadata())[kEncodingKey] = encoding;
  return payload;
}

}  // namespace

namespace internal {

Payload NullPayload() { return PayloadWithEncoding(encoding::kNull); }

Payload BinaryPayload(const std::string& bytes) {
  Payload payload = PayloadWithEncoding(encoding::kBinary);
  payload.set_data(bytes);
  return payload;
}

Payload JsonPayload(const nlohmann::json& value) {
  Payload payload = PayloadWithEncoding(encoding::kJson);
  try {
    payload.set_data(value.dump());
  } catch (const nlohmann::json::exception& e) {
    // dump() throws on strings that are not valid UTF-8.
    throw PayloadError(std::string("cannot serialize value as JSON: ") + e.what());
  }
  return payload;
}

Payload ProtoPayload(const google::protobuf::Message& message) {
  std::string json;
  auto status = google::protobuf::util::MessageToJsonString(message, &json);
  if (!status.ok()) {
    throw PayloadError("cannot serialize " + message.GetDescriptor()->full_name() +
                       " as JSON: " + std::string(status.message()));
  }
  Payload payload = PayloadWithEncoding(encoding::kProtobufJson);
  (*payload.mutable_metadata())[kMessageTypeKey] = message.GetDescriptor()->full_name();
  payload.set_data(std::move(json));
  return payload;
}

std::string PayloadEncoding(const Payload& payload) {
  auto it = payload.metadata().find(kEncodingKey);
  return it == payload.metadata().end() ? std::string() : it->second;
}

nlohmann::json PayloadJson(const Payload& payload) {
  std::string payload_encoding = PayloadEncoding(payload);
  if (payload_encoding == encoding::kNull) return nullptr;
  if (payload_encoding != encoding::kJson) {
    throw PayloadError("cannot read a payload with encoding \"" + payload_encoding +
                       "\" as JSON (expected " + encoding::kJson + ")");
  }
  try {
    return nlohmann::json::parse(payload.data());
  } catch (const nlohmann::json::exception& e) {
    throw PayloadError(std::string("payload is not valid JSON: ") + e.what());
  }
}

std::string PayloadBytes(const Payload& payload) {
  std::string payload_encoding = PayloadEncoding(payload);
  if (payload_encoding == encoding::kBinary) return payload.data();
  if (payload_encoding == encoding::kNull) return std::string();
  throw PayloadError("cannot read a payload with encoding \"" + payload_encoding +
                     "\" as bytes (expected " + encoding::kBinary + ")");
}

void PayloadToProto(const Payload& payload, google::protobuf::Message* message) {
  std::string payload_encoding = PayloadEncoding(payload);
  const std::string& type_name = message->GetDescriptor()->full_name();
  if (payload_encoding == encoding::kProtobufJson) {
    google::protobuf::util::JsonParseOptions options;
    options.ignore_unknown_fields = true;
    auto status = google::protobuf::util::JsonStringToMessage(payload.data(), message, options);
    if (!status.ok()) {
      throw PayloadError("cannot read payload as " + type_name + ": " +
                         std::string(status.message()));
    }
    return;
  }
  if (payload_encoding == kProtobufBinary) {
    if (!message->ParseFromString(payload.data())) {
      throw PayloadError("cannot parse binary payload as " + type_name);
    }
    return;
  }
  throw PayloadError("cannot read a payload with encoding \"" + payload_encoding + "\" as " +
                     type_name + " (expected " + encoding::kProtobufJson + ")");
}

}  // namespace internal

Payload DataConverter::ApplyEncode(Payload payload) const {
  if (codec_ == nullptr) return payload;
  return codec_->Encode(payload);
}

Payload DataConverter::ApplyDecode(const Payload& payload) const {
  if (codec_ == nullptr) return payload;
  return codec_->Decode(payload);
}

}  // namespace eon::sdk
