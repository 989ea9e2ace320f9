// Page tokens: the opaque next_page_token a list call hands out and takes back. Every token is
// parsed strictly here: a token Eon did not write (trailing bytes such as "5\0junk", unknown
// fields, a repeated field, a negative offset) is refused with INVALID_ARGUMENT
// "invalid next_page_token", never read as a nearby valid one.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include <google/protobuf/message.h>

#include "common/status.h"

namespace eon {

// An offset into an ordered listing (visibility, schedules): its decimal digits.
std::string EncodeOffsetPageToken(int64_t offset);
// The offset `token` holds; 0 for the empty token (the first page).
Result<int64_t> DecodeOffsetPageToken(std::string_view token);

// A token that is a serialized message (history pages). Parses `token` into `message` (cleared
// first; left cleared for the empty token) and accepts it only if it is exactly the message's
// own serialization: no unknown fields, nothing before or after, nothing repeated.
Status DecodeMessagePageToken(std::string_view token, google::protobuf::Message* message);

}  // namespace eon
