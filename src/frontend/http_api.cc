#include "frontend/http_api.h"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/util/json_util.h>
#include <openssl/evp.h>

#include <algorithm>
#include <future>
#include <nlohmann/json.hpp>

#include "common/json_depth.h"
#include "google/api/annotations.pb.h"
#include "google/rpc/status.pb.h"
#include "persistence/records.h"
#include "temporal/api/common/v1/message.pb.h"
#include "temporal/api/operatorservice/v1/service.pb.h"
#include "temporal/api/workflowservice/v1/service.pb.h"

namespace eon::frontend {

namespace pb = google::protobuf;
using json = nlohmann::ordered_json;

int HttpStatusFor(StatusCode code) {
  switch (code) {
    case StatusCode::OK:
      return 200;
    case StatusCode::CANCELLED:
      return 499;
    case StatusCode::INVALID_ARGUMENT:
      return 400;
    case StatusCode::DEADLINE_EXCEEDED:
      return 504;
    case StatusCode::NOT_FOUND:
      return 404;
    case StatusCode::ALREADY_EXISTS:
      return 409;
    case StatusCode::PERMISSION_DENIED:
      return 403;
    case StatusCode::UNAUTHENTICATED:
      return 401;
    case StatusCode::RESOURCE_EXHAUSTED:
      return 429;
    case StatusCode::FAILED_PRECONDITION:
      return 400;
    case StatusCode::ABORTED:
      return 409;
    case StatusCode::OUT_OF_RANGE:
      return 400;
    case StatusCode::UNIMPLEMENTED:
      return 501;
    case StatusCode::UNAVAILABLE:
      return 503;
    default:
      return 500;  // UNKNOWN, INTERNAL, DATA_LOSS
  }
}

namespace {

constexpr const char* kPayloadType = "temporal.api.common.v1.Payload";
constexpr const char* kPayloadsType = "temporal.api.common.v1.Payloads";
constexpr const char* kMessageTypeKey = "_protoMessageType";

// JSON text; strings that are not UTF-8 (a path segment may be any bytes) are repaired rather
// than thrown on.
std::string Dump(const json& value, bool pretty = false) {
  return value.dump(pretty ? 2 : -1, ' ', false, json::error_handler_t::replace);
}

std::string Base64(std::string_view bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3), '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(bytes.data()),
                          static_cast<int>(bytes.size()));
  out.resize(n < 0 ? 0 : n);
  return out;
}

// --- payloads out: the standard form becomes the shorthand where Temporal's would -----------

// The shorthand of one payload; false when it has none (another encoding, extra metadata, data
// that is not JSON), and then the standard form stays.
bool PayloadShorthand(const temporal::api::common::v1::Payload& payload, json* out) {
  auto encoding = payload.metadata().find("encoding");
  if (encoding == payload.metadata().end()) return false;
  if (encoding->second == "binary/null") {
    *out = nullptr;
    return true;
  }
  if (encoding->second == "json/plain" && payload.metadata().size() == 1) {
    *out = json::parse(payload.data(), nullptr, false);
    return !out->is_discarded();
  }
  auto type = payload.metadata().find("messageType");
  if (encoding->second == "json/protobuf" && type != payload.metadata().end() &&
      payload.metadata().size() == 2) {
    *out = json::parse(payload.data(), nullptr, false);
    if (out->is_discarded() || !out->is_object()) return false;
    (*out)[kMessageTypeKey] = type->second;
    return true;
  }
  return false;
}

void ShortenValue(const pb::Message& message, json& node);

void ShortenField(const pb::Message& message, const pb::FieldDescriptor& field, json& node) {
  const pb::Reflection& reflection = *message.GetReflection();
  const pb::Descriptor& type = *field.message_type();
  if (field.is_map()) {
    if (!node.is_object()) return;
    const pb::FieldDescriptor* key_field = type.map_key();
    const pb::FieldDescriptor* value_field = type.map_value();
    if (value_field->type() != pb::FieldDescriptor::TYPE_MESSAGE) return;
    for (int i = 0; i < reflection.FieldSize(message, &field); ++i) {
      const pb::Message& entry = reflection.GetRepeatedMessage(message, &field, i);
      const pb::Reflection& entry_reflection = *entry.GetReflection();
      std::string key;
      if (key_field->type() == pb::FieldDescriptor::TYPE_STRING)
        key = entry_reflection.GetString(entry, key_field);
      else
        continue;  // Temporal's maps of payloads are keyed by strings
      auto it = node.find(key);
      if (it != node.end()) ShortenValue(entry_reflection.GetMessage(entry, value_field), *it);
    }
    return;
  }
  if (field.is_repeated()) {
    if (!node.is_array()) return;
    int size = reflection.FieldSize(message, &field);
    for (int i = 0; i < size && i < static_cast<int>(node.size()); ++i)
      ShortenValue(reflection.GetRepeatedMessage(message, &field, i), node[i]);
    return;
  }
  ShortenValue(reflection.GetMessage(message, &field), node);
}

void ShortenValue(const pb::Message& message, json& node) {
  const pb::Descriptor& type = *message.GetDescriptor();
  if (type.full_name() == kPayloadType) {
    json shorthand;
    if (PayloadShorthand(static_cast<const temporal::api::common::v1::Payload&>(message),
                         &shorthand))
      node = std::move(shorthand);
    return;
  }
  if (type.full_name() == kPayloadsType) {
    const auto& payloads = static_cast<const temporal::api::common::v1::Payloads&>(message);
    json array = json::array();
    for (const auto& payload : payloads.payloads()) {
      json shorthand;
      if (!PayloadShorthand(payload, &shorthand)) return;  // all or none, as Temporal's
      array.push_back(std::move(shorthand));
    }
    node = std::move(array);
    return;
  }
  // Well-known types print as strings or free JSON and hold no payloads.
  if (type.file()->package() == "google.protobuf" || !node.is_object()) return;
  std::vector<const pb::FieldDescriptor*> fields;
  message.GetReflection()->ListFields(message, &fields);
  for (const pb::FieldDescriptor* field : fields) {
    if (field->cpp_type() != pb::FieldDescriptor::CPPTYPE_MESSAGE) continue;
    auto it = node.find(field->json_name());
    if (it != node.end()) ShortenField(message, *field, *it);
  }
}

// --- payloads in: the shorthand becomes the standard form ----------------------------------

json StandardPayload(const json& value) {
  if (value.is_null()) return {{"metadata", {{"encoding", Base64("binary/null")}}}};
  if (value.is_object() && value.contains(kMessageTypeKey) && value[kMessageTypeKey].is_string()) {
    json message = value;
    std::string type = message[kMessageTypeKey].get<std::string>();
    message.erase(kMessageTypeKey);
    return {{"metadata", {{"encoding", Base64("json/protobuf")}, {"messageType", Base64(type)}}},
            {"data", Base64(Dump(message))}};
  }
  return {{"metadata", {{"encoding", Base64("json/plain")}}}, {"data", Base64(Dump(value))}};
}

// A payload already in the standard form: "metadata" (an object of strings, with "encoding")
// and "data" (a string), nothing else; or metadata alone for binary/null.
bool IsStandardPayload(const json& value) {
  if (!value.is_object() || !value.contains("metadata")) return false;
  const json& metadata = value["metadata"];
  if (!metadata.is_object() || !metadata.contains("encoding")) return false;
  for (const auto& [key, item] : metadata.items())
    if (!item.is_string()) return false;
  size_t expected = value.contains("data") ? 2 : 1;
  return value.size() == expected && (expected == 1 || value["data"].is_string());
}

const pb::FieldDescriptor* FieldByJsonKey(const pb::Descriptor& type, const std::string& key) {
  const pb::FieldDescriptor* field = type.FindFieldByName(key);
  if (field == nullptr) field = type.FindFieldByCamelcaseName(key);
  if (field == nullptr) {
    for (int i = 0; i < type.field_count(); ++i)
      if (type.field(i)->json_name() == key) return type.field(i);
  }
  return field;
}

void ExpandValue(const pb::Descriptor& type, json& node);

void ExpandField(const pb::FieldDescriptor& field, json& node) {
  const pb::Descriptor& type = *field.message_type();
  if (field.is_map()) {
    const pb::FieldDescriptor* value_field = type.map_value();
    if (!node.is_object() || value_field->type() != pb::FieldDescriptor::TYPE_MESSAGE) return;
    for (auto& [key, item] : node.items()) ExpandValue(*value_field->message_type(), item);
    return;
  }
  if (field.is_repeated()) {
    if (!node.is_array()) return;
    for (auto& item : node) ExpandValue(type, item);
    return;
  }
  ExpandValue(type, node);
}

void ExpandValue(const pb::Descriptor& type, json& node) {
  if (type.full_name() == kPayloadType) {
    if (!IsStandardPayload(node)) node = StandardPayload(node);
    return;
  }
  if (type.full_name() == kPayloadsType) {
    if (!node.is_array()) return;  // the standard form {"payloads": [...]}
    json payloads = json::array();
    for (const auto& item : node)
      payloads.push_back(IsStandardPayload(item) ? item : StandardPayload(item));
    node = json{{"payloads", std::move(payloads)}};
    return;
  }
  if (type.file()->package() == "google.protobuf" || !node.is_object()) return;
  for (auto& [key, item] : node.items()) {
    const pb::FieldDescriptor* field = FieldByJsonKey(type, key);
    if (field != nullptr && field->cpp_type() == pb::FieldDescriptor::CPPTYPE_MESSAGE)
      ExpandField(*field, item);
  }
}

// --- routes -----------------------------------------------------------------------------

std::string PercentDecode(std::string_view text, bool* ok) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '%') {
      out.push_back(text[i]);
      continue;
    }
    auto hex = [](char c) -> int {
      if (c >= '0' && c <= '9') return c - '0';
      if (c >= 'a' && c <= 'f') return c - 'a' + 10;
      if (c >= 'A' && c <= 'F') return c - 'A' + 10;
      return -1;
    };
    int high = i + 1 < text.size() ? hex(text[i + 1]) : -1;
    int low = i + 2 < text.size() ? hex(text[i + 2]) : -1;
    if (high < 0 || low < 0) {
      *ok = false;
      return out;
    }
    out.push_back(static_cast<char>(high * 16 + low));
    i += 2;
  }
  return out;
}

std::vector<std::string_view> SplitPath(std::string_view path) {
  std::vector<std::string_view> segments;
  if (!path.empty() && path.front() == '/') path.remove_prefix(1);
  while (true) {
    size_t slash = path.find('/');
    segments.push_back(path.substr(0, slash));
    if (slash == std::string_view::npos) break;
    path.remove_prefix(slash + 1);
  }
  return segments;
}

std::vector<std::string> SplitDots(const std::string& path) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (true) {
    size_t dot = path.find('.', start);
    parts.push_back(path.substr(start, dot - start));
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  return parts;
}

// Sets the field at `path` (proto or JSON names, dotted) of the request JSON `root` to `text`, in
// the JSON form the field's type takes. Repeated fields collect their values.
Status SetField(const pb::Descriptor& root_type, json& root, const std::string& path,
                const std::string& text) {
  const pb::Descriptor* type = &root_type;
  json* node = &root;
  std::vector<std::string> parts = SplitDots(path);
  for (size_t i = 0; i < parts.size(); ++i) {
    const pb::FieldDescriptor* field = type ? FieldByJsonKey(*type, parts[i]) : nullptr;
    if (field == nullptr)
      return InvalidArgument("unknown field \"" + path + "\" for " + root_type.full_name());
    const std::string key = field->json_name();
    bool last = i + 1 == parts.size();
    if (!last) {
      if (field->cpp_type() != pb::FieldDescriptor::CPPTYPE_MESSAGE || field->is_repeated())
        return InvalidArgument("field \"" + path + "\" does not name a single message field");
      json& child = (*node)[key];
      if (!child.is_object()) child = json::object();
      node = &child;
      type = field->message_type();
      continue;
    }
    json value = text;
    switch (field->cpp_type()) {
      case pb::FieldDescriptor::CPPTYPE_BOOL:
        if (text != "true" && text != "false")
          return InvalidArgument("field \"" + path + "\" takes true or false, not \"" + text +
                                 "\"");
        value = text == "true";
        break;
      case pb::FieldDescriptor::CPPTYPE_ENUM:
        if (!text.empty() && std::all_of(text.begin(), text.end(), ::isdigit) && text.size() < 10)
          value = std::stoi(text);
        break;
      case pb::FieldDescriptor::CPPTYPE_MESSAGE: {
        const std::string& name = field->message_type()->full_name();
        if (name != "google.protobuf.Timestamp" && name != "google.protobuf.Duration" &&
            name.rfind("google.protobuf.", 0) != 0)
          return InvalidArgument("field \"" + path + "\" is a message: set it in the body");
        break;
      }
      default:
        break;  // numbers and bytes (base64) parse from strings
    }
    if (field->is_repeated()) {
      json& list = (*node)[key];
      if (!list.is_array()) list = json::array();
      list.push_back(std::move(value));
    } else {
      (*node)[key] = std::move(value);
    }
  }
  return Status::Ok();
}

json ErrorJson(const Status& status) {
  google::rpc::Status proto;
  proto.set_code(static_cast<int>(status.code()));
  proto.set_message(status.message());
  if (status.detail()) *proto.add_details() = *status.detail();
  std::string text;
  if (pb::util::MessageToJsonString(proto, &text).ok()) {
    json parsed = json::parse(text, nullptr, false);
    if (!parsed.is_discarded()) return parsed;
  }
  return {{"code", static_cast<int>(status.code())}, {"message", status.message()}};
}

HttpResponse ErrorResponse(const Status& status, bool pretty) {
  json body = ErrorJson(status);
  if (!body.contains("details")) body["details"] = json::array();
  return {HttpStatusFor(status.code()), Dump(body, pretty)};
}

// The request's JSON with every shorthand payload in the standard form, ready for the protobuf
// JSON parser. INVALID_ARGUMENT when the JSON is not an object.
Status ExpandPayloads(const pb::Descriptor& type, std::string* json_text) {
  json node = json::parse(*json_text, nullptr, false);
  if (node.is_discarded() || !node.is_object())
    return InvalidArgument("the body is not a JSON object");
  ExpandValue(type, node);
  *json_text = Dump(node);
  return Status::Ok();
}

// A segment of a route's path: a literal, or (variable = true) the dotted field path it fills.
struct RouteSegment {
  std::string text;
  bool variable = false;
};

}  // namespace

struct HttpApi::Route {
  std::string http_method;
  std::vector<RouteSegment> segments;
  std::string body;  // "" none, "*" the whole request, else the field the body fills
  std::string full_method;
  int literals = 0;
};

HttpApi::HttpApi(RpcRouter& router, bool api_paths_only) : router_(router) {
  // The services' descriptors live in service.pb.cc, which nothing else refers to: naming their
  // tables links them in and puts them in the generated pool.
  pb::internal::AssignDescriptors(
      &descriptor_table_temporal_2fapi_2fworkflowservice_2fv1_2fservice_2eproto);
  pb::internal::AssignDescriptors(
      &descriptor_table_temporal_2fapi_2foperatorservice_2fv1_2fservice_2eproto);
  const pb::DescriptorPool& pool = *pb::DescriptorPool::generated_pool();
  for (const char* name : {kWorkflowService, "temporal.api.operatorservice.v1.OperatorService"}) {
    const pb::ServiceDescriptor* service = pool.FindServiceByName(name);
    if (service == nullptr) continue;
    for (int m = 0; m < service->method_count(); ++m) {
      const pb::MethodDescriptor& method = *service->method(m);
      if (!method.options().HasExtension(google::api::http)) continue;
      const google::api::HttpRule& rule = method.options().GetExtension(google::api::http);
      std::vector<const google::api::HttpRule*> bindings{&rule};
      for (const auto& extra : rule.additional_bindings()) bindings.push_back(&extra);
      for (const google::api::HttpRule* binding : bindings) {
        Route route;
        std::string path;
        switch (binding->pattern_case()) {
          case google::api::HttpRule::kGet:
            route.http_method = "GET";
            path = binding->get();
            break;
          case google::api::HttpRule::kPost:
            route.http_method = "POST";
            path = binding->post();
            break;
          case google::api::HttpRule::kPut:
            route.http_method = "PUT";
            path = binding->put();
            break;
          case google::api::HttpRule::kDelete:
            route.http_method = "DELETE";
            path = binding->delete_();
            break;
          case google::api::HttpRule::kPatch:
            route.http_method = "PATCH";
            path = binding->patch();
            break;
          default:
            continue;
        }
        if (api_paths_only && path.rfind("/api/", 0) != 0) continue;
        for (std::string_view segment : SplitPath(path)) {
          RouteSegment part;
          if (segment.size() > 2 && segment.front() == '{' && segment.back() == '}') {
            part.text = std::string(segment.substr(1, segment.size() - 2));
            part.variable = true;
          } else {
            part.text = std::string(segment);
            ++route.literals;
          }
          route.segments.push_back(std::move(part));
        }
        route.body = binding->body();
        route.full_method = "/" + service->full_name() + "/" + method.name();
        routes_.push_back(std::move(route));
      }
    }
  }
  // A literal segment wins over a variable one (".../workflow-count" before ".../{id}").
  std::stable_sort(routes_.begin(), routes_.end(),
                   [](const Route& a, const Route& b) { return a.literals > b.literals; });
}

HttpApi::~HttpApi() = default;

size_t HttpApi::route_count() const { return routes_.size(); }

namespace {

// Whether `segments` fit `route`; fills the variables' decoded values.
bool Fits(const std::vector<RouteSegment>& route, const std::vector<std::string_view>& segments,
          std::vector<std::pair<std::string, std::string>>* variables) {
  if (route.size() != segments.size()) return false;
  for (size_t i = 0; i < route.size(); ++i) {
    if (!route[i].variable) {
      if (route[i].text != segments[i]) return false;
      continue;
    }
    bool ok = true;
    std::string value = PercentDecode(segments[i], &ok);
    if (!ok || value.empty()) return false;
    if (variables) variables->emplace_back(route[i].text, std::move(value));
  }
  return true;
}

}  // namespace

bool HttpApi::Matches(const std::string& raw_path) const {
  auto segments = SplitPath(raw_path);
  for (const Route& route : routes_)
    if (Fits(route.segments, segments, nullptr)) return true;
  return false;
}

HttpResponse HttpApi::Handle(const HttpRequest& request) const {
  bool pretty = false;
  bool shorthand = true;
  for (const auto& [key, value] : request.query) {
    if (key == "pretty") pretty = true;
    if (key == "noPayloadShorthand") shorthand = false;
  }
  auto segments = SplitPath(request.raw_path);
  const Route* route = nullptr;
  std::vector<std::pair<std::string, std::string>> variables;
  bool path_known = false;
  for (const Route& candidate : routes_) {
    std::vector<std::pair<std::string, std::string>> found;
    if (!Fits(candidate.segments, segments, &found)) continue;
    path_known = true;
    if (candidate.http_method != request.method) continue;
    route = &candidate;
    variables = std::move(found);
    break;
  }
  if (route == nullptr) {
    if (path_known) {
      HttpResponse response = ErrorResponse(
          Unimplemented("method " + request.method + " is not allowed on " + request.raw_path),
          pretty);
      response.status = 405;
      return response;
    }
    return ErrorResponse(NotFound("no API route for " + request.method + " " + request.raw_path),
                         pretty);
  }
  const pb::Message* prototype = router_.RequestPrototype(route->full_method);
  if (prototype == nullptr) {
    return ErrorResponse(NotImplemented(route->full_method), pretty);
  }
  const pb::Descriptor& type = *prototype->GetDescriptor();

  // The request's JSON: body, then path variables, then query parameters.
  if (request.body.size() > kHttpBodyMaxBytes)
    return ErrorResponse(InvalidArgument("the request body is larger than " +
                                         std::to_string(kHttpBodyMaxBytes) + " bytes"),
                         pretty);
  if (JsonNestingDepth(request.body, persistence::kRequestNestingMax) >
      persistence::kRequestNestingMax)
    return ErrorResponse(
        InvalidArgument("the request body nests deeper than " +
                        std::to_string(persistence::kRequestNestingMax) + " levels"),
        pretty);
  json root = json::object();
  bool blank_body = request.body.find_first_not_of(" \t\r\n") == std::string::npos;
  if (!route->body.empty() && !blank_body) {
    json body = json::parse(request.body, nullptr, false);
    if (body.is_discarded())
      return ErrorResponse(InvalidArgument("the request body is not valid JSON"), pretty);
    if (route->body == "*") {
      if (!body.is_object())
        return ErrorResponse(InvalidArgument("the request body must be a JSON object"), pretty);
      root = std::move(body);
    } else {
      const pb::FieldDescriptor* field = FieldByJsonKey(type, route->body);
      if (field == nullptr)
        return ErrorResponse(Internal("the route's body field " + route->body + " is unknown"),
                             pretty);
      root[field->json_name()] = std::move(body);
    }
  }
  for (const auto& [path, value] : variables) {
    if (Status set = SetField(type, root, path, value); !set.ok())
      return ErrorResponse(set, pretty);
  }
  if (route->body != "*") {
    for (const auto& [key, value] : request.query) {
      if (key == "pretty" || key == "noPayloadShorthand") continue;
      if (Status set = SetField(type, root, key, value); !set.ok())
        return ErrorResponse(set, pretty);
    }
  }
  std::string text = Dump(root);
  if (Status expanded = ExpandPayloads(type, &text); !expanded.ok())
    return ErrorResponse(expanded, pretty);
  std::unique_ptr<pb::Message> message(prototype->New());
  pb::util::JsonParseOptions parse_options;
  parse_options.ignore_unknown_fields = false;
  if (auto parsed = pb::util::JsonStringToMessage(text, message.get(), parse_options); !parsed.ok())
    return ErrorResponse(InvalidArgument("the request is not a valid " + type.full_name() + ": " +
                                         std::string(parsed.message())),
                         pretty);

  // The call, in process; its answer is written as JSON on the thread that answers.
  auto promise = std::make_shared<std::promise<HttpResponse>>();
  std::future<HttpResponse> future = promise->get_future();
  CallInfo call;
  call.authorization = request.authorization;
  call.peer = request.peer;
  auto deadline = std::chrono::system_clock::now() + std::chrono::seconds(kHttpCallTimeoutS);
  router_.Invoke(
      route->full_method, std::move(message), std::move(call), deadline,
      [promise, pretty, shorthand](const Status& status, const pb::Message* response) {
        if (!status.ok() || response == nullptr) {
          promise->set_value(ErrorResponse(status, pretty));
          return;
        }
        std::string out;
        pb::util::JsonPrintOptions print_options;
        if (!pb::util::MessageToJsonString(*response, &out, print_options).ok()) {
          promise->set_value(
              ErrorResponse(Internal("the answer could not be written as JSON"), pretty));
          return;
        }
        json node = json::parse(out, nullptr, false);
        if (shorthand && !node.is_discarded()) ShortenValue(*response, node);
        promise->set_value(HttpResponse{200, node.is_discarded() ? out : Dump(node, pretty)});
      });
  if (future.wait_for(std::chrono::seconds(kHttpCallTimeoutS + 5)) != std::future_status::ready)
    return ErrorResponse(Status(StatusCode::DEADLINE_EXCEEDED, "the call did not answer in time"),
                         pretty);
  return future.get();
}

}  // namespace eon::frontend
