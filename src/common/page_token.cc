#include "common/page_token.h"

#include "common/parse.h"

namespace eon {
namespace {
Status InvalidToken() { return InvalidArgument("invalid next_page_token"); }
}  // namespace

std::string EncodeOffsetPageToken(int64_t offset) { return std::to_string(offset); }

Result<int64_t> DecodeOffsetPageToken(std::string_view token) {
  if (token.empty()) return int64_t{0};
  // ParseNumber takes the whole text and no sign but '-'; a leading '+' or space fails too.
  auto offset = ParseNumber<int64_t>(token);
  if (!offset || *offset < 0 || EncodeOffsetPageToken(*offset) != token) return InvalidToken();
  return *offset;
}

Status DecodeMessagePageToken(std::string_view token, google::protobuf::Message* message) {
  message->Clear();
  if (token.empty()) return Status::Ok();
  std::string again;
  if (message->ParseFromArray(token.data(), static_cast<int>(token.size())) &&
      message->GetReflection()->GetUnknownFields(*message).empty() &&
      message->SerializeToString(&again) && again == token) {
    return Status::Ok();
  }
  message->Clear();
  return InvalidToken();
}

}  // namespace eon
