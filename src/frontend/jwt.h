// JWT verification (RFC 7519) against public keys from a JWKS document (RFC 7517), with
// OpenSSL. Algorithms: RS256 and ES256 (P-256); anything else ("none" included) is refused.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "common/status.h"

namespace eon::frontend {

// Longest token accepted, so a huge header costs nothing to refuse.
inline constexpr size_t kJwtLengthMax = 16 * 1024;

class JwtVerifier {
 public:
  // Parses a JWKS document ({"keys": [...]}, RSA and EC P-256 keys). INVALID_ARGUMENT naming
  // what is wrong when it is not one, or has no usable key.
  static Result<std::unique_ptr<JwtVerifier>> FromJwks(std::string_view jwks_json);
  ~JwtVerifier();

  // Checks the token's signature against the key its header's "kid" names (or the only key of
  // its type when it names none) and its "exp" and "nbf" against `now`. Returns the payload
  // (JSON text), or UNAUTHENTICATED saying why not (malformed, unknown key, bad signature,
  // expired, not yet valid).
  Result<std::string> Verify(std::string_view token, std::chrono::system_clock::time_point now) const;

  struct Key;

 private:
  JwtVerifier() = default;
  std::multimap<std::string, std::unique_ptr<Key>> keys_;  // by kid ("" when it has none)
};

// base64url without padding (as JWTs use it), decoded; false when `text` is not base64url.
bool Base64UrlDecode(std::string_view text, std::string* out);
std::string Base64UrlEncode(std::string_view bytes);

}  // namespace eon::frontend
