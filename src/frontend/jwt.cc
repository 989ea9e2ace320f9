#include "frontend/jwt.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>

#include <nlohmann/json.hpp>

namespace eon::frontend {

struct JwtVerifier::Key {
  std::string alg;  // RS256 or ES256
  EVP_PKEY* pkey = nullptr;
  ~Key() { EVP_PKEY_free(pkey); }
};

namespace {

using Json = nlohmann::json;

int Base64UrlValue(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '-') return 62;
  if (c == '_') return 63;
  return -1;
}

// An RSA public key from its base64url modulus and exponent.
EVP_PKEY* RsaKey(const std::string& n, const std::string& e) {
  BIGNUM* bn_n = BN_bin2bn(reinterpret_cast<const unsigned char*>(n.data()), n.size(), nullptr);
  BIGNUM* bn_e = BN_bin2bn(reinterpret_cast<const unsigned char*>(e.data()), e.size(), nullptr);
  OSSL_PARAM_BLD* build = OSSL_PARAM_BLD_new();
  EVP_PKEY* pkey = nullptr;
  if (bn_n && bn_e && build && OSSL_PARAM_BLD_push_BN(build, OSSL_PKEY_PARAM_RSA_N, bn_n) &&
      OSSL_PARAM_BLD_push_BN(build, OSSL_PKEY_PARAM_RSA_E, bn_e)) {
    OSSL_PARAM* params = OSSL_PARAM_BLD_to_param(build);
    EVP_PKEY_CTX* ctx = EVP_PKEY_CTX_new_from_name(nullptr, "RSA", nullptr);
    if (params && ctx && EVP_PKEY_fromdata_init(ctx) > 0)
      EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params);
    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params);
  }
  OSSL_PARAM_BLD_free(build);
  BN_free(bn_n);
  BN_free(bn_e);
  return pkey;
}

// A P-256 public key from its base64url coordinates.
EVP_PKEY* EcKey(const std::string& x, const std::string& y) {
  if (x.size() != 32 || y.size() != 32) return nullptr;
  std::string point = "\x04" + x + y;
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME,
                                       const_cast<char*>("prime256v1"), 0),
      OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, point.data(), point.size()),
      OSSL_PARAM_construct_end()};
  EVP_PKEY* pkey = nullptr;
  EVP_PKEY_CTX* ctx = EVP_PKEY_CTX_new_from_name(nullptr, "EC", nullptr);
  if (ctx && EVP_PKEY_fromdata_init(ctx) > 0)
    EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params);
  EVP_PKEY_CTX_free(ctx);
  return pkey;
}

std::string StringMember(const Json& object, const char* name) {
  auto it = object.find(name);
  return it != object.end() && it->is_string() ? it->get<std::string>() : std::string();
}

// ES256 signatures are r || s (32 bytes each); OpenSSL verifies DER.
bool EcdsaRawToDer(const std::string& raw, std::string* der) {
  if (raw.size() != 64) return false;
  ECDSA_SIG* sig = ECDSA_SIG_new();
  BIGNUM* r = BN_bin2bn(reinterpret_cast<const unsigned char*>(raw.data()), 32, nullptr);
  BIGNUM* s = BN_bin2bn(reinterpret_cast<const unsigned char*>(raw.data()) + 32, 32, nullptr);
  if (!sig || !r || !s || ECDSA_SIG_set0(sig, r, s) != 1) {
    BN_free(r);
    BN_free(s);
    ECDSA_SIG_free(sig);
    return false;
  }
  unsigned char* out = nullptr;
  int length = i2d_ECDSA_SIG(sig, &out);
  ECDSA_SIG_free(sig);
  if (length <= 0) return false;
  der->assign(reinterpret_cast<char*>(out), length);
  OPENSSL_free(out);
  return true;
}

bool VerifySignature(EVP_PKEY* pkey, std::string_view data, const std::string& signature) {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  bool ok = ctx && EVP_DigestVerifyInit(ctx, nullptr, EVP_sha256(), nullptr, pkey) == 1 &&
            EVP_DigestVerify(ctx, reinterpret_cast<const unsigned char*>(signature.data()),
                             signature.size(), reinterpret_cast<const unsigned char*>(data.data()),
                             data.size()) == 1;
  EVP_MD_CTX_free(ctx);
  return ok;
}

}  // namespace

bool Base64UrlDecode(std::string_view text, std::string* out) {
  out->clear();
  uint32_t buffer = 0;
  int bits = 0;
  for (char c : text) {
    if (c == '=') break;
    int value = Base64UrlValue(c);
    if (value < 0) return false;
    buffer = (buffer << 6) | static_cast<uint32_t>(value);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out->push_back(static_cast<char>((buffer >> bits) & 0xff));
    }
  }
  return bits < 6;  // a lone 6-bit group cannot end a base64 string
}

std::string Base64UrlEncode(std::string_view bytes) {
  static const char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  uint32_t buffer = 0;
  int bits = 0;
  for (unsigned char c : bytes) {
    buffer = (buffer << 8) | c;
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out.push_back(kAlphabet[(buffer >> bits) & 0x3f]);
    }
  }
  if (bits > 0) out.push_back(kAlphabet[(buffer << (6 - bits)) & 0x3f]);
  return out;
}

JwtVerifier::~JwtVerifier() = default;

Result<std::unique_ptr<JwtVerifier>> JwtVerifier::FromJwks(std::string_view jwks_json) {
  Json jwks = Json::parse(jwks_json, nullptr, /*allow_exceptions=*/false);
  if (jwks.is_discarded() || !jwks.is_object() || !jwks.contains("keys") ||
      !jwks["keys"].is_array()) {
    return InvalidArgument("the JWKS is not a JSON object with a \"keys\" array");
  }
  std::unique_ptr<JwtVerifier> verifier(new JwtVerifier());
  for (const auto& entry : jwks["keys"]) {
    if (!entry.is_object()) continue;
    std::string kty = StringMember(entry, "kty");
    auto key = std::make_unique<Key>();
    if (kty == "RSA") {
      std::string n, e;
      if (!Base64UrlDecode(StringMember(entry, "n"), &n) ||
          !Base64UrlDecode(StringMember(entry, "e"), &e) || n.empty() || e.empty())
        return InvalidArgument("a JWKS RSA key has no valid \"n\" and \"e\"");
      key->alg = "RS256";
      key->pkey = RsaKey(n, e);
    } else if (kty == "EC") {
      std::string x, y;
      if (StringMember(entry, "crv") != "P-256")
        return InvalidArgument("a JWKS EC key is not on curve P-256 (only ES256 is supported)");
      if (!Base64UrlDecode(StringMember(entry, "x"), &x) ||
          !Base64UrlDecode(StringMember(entry, "y"), &y))
        return InvalidArgument("a JWKS EC key has no valid \"x\" and \"y\"");
      key->alg = "ES256";
      key->pkey = EcKey(x, y);
    } else {
      continue;  // other key types are not ours to use
    }
    if (key->pkey == nullptr) return InvalidArgument("a JWKS " + kty + " key is not a valid key");
    verifier->keys_.emplace(StringMember(entry, "kid"), std::move(key));
  }
  if (verifier->keys_.empty()) return InvalidArgument("the JWKS has no RSA or EC P-256 key");
  return verifier;
}

Result<std::string> JwtVerifier::Verify(std::string_view token,
                                        std::chrono::system_clock::time_point now) const {
  if (token.size() > kJwtLengthMax) return Unauthenticated("the token is too long");
  auto first = token.find('.');
  auto second = first == std::string_view::npos ? first : token.find('.', first + 1);
  if (second == std::string_view::npos || token.find('.', second + 1) != std::string_view::npos)
    return Unauthenticated("the token is not a JWT (header.payload.signature)");
  std::string header_text, payload_text, signature;
  if (!Base64UrlDecode(token.substr(0, first), &header_text) ||
      !Base64UrlDecode(token.substr(first + 1, second - first - 1), &payload_text) ||
      !Base64UrlDecode(token.substr(second + 1), &signature))
    return Unauthenticated("the token is not base64url");
  Json header = Json::parse(header_text, nullptr, false);
  Json payload = Json::parse(payload_text, nullptr, false);
  if (header.is_discarded() || !header.is_object() || payload.is_discarded() ||
      !payload.is_object())
    return Unauthenticated("the token's header or payload is not a JSON object");
  std::string alg = StringMember(header, "alg");
  if (alg != "RS256" && alg != "ES256")
    return Unauthenticated("the token's algorithm \"" + alg + "\" is not RS256 or ES256");
  std::string kid = StringMember(header, "kid");
  const Key* key = nullptr;
  if (!kid.empty()) {
    for (auto [it, end] = keys_.equal_range(kid); it != end; ++it)
      if (it->second->alg == alg) key = it->second.get();
  } else {
    for (const auto& [id, candidate] : keys_) {
      if (candidate->alg != alg) continue;
      if (key != nullptr) return Unauthenticated("the token names no key (kid) and several fit");
      key = candidate.get();
    }
  }
  if (key == nullptr) return Unauthenticated("the token's key \"" + kid + "\" is not in the JWKS");
  std::string der;
  if (alg == "ES256" && !EcdsaRawToDer(signature, &der))
    return Unauthenticated("the token's ES256 signature is not 64 bytes");
  if (!VerifySignature(key->pkey, token.substr(0, second), alg == "ES256" ? der : signature))
    return Unauthenticated("the token's signature does not verify");
  const int64_t now_s =
      std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count();
  if (payload.contains("exp")) {
    if (!payload["exp"].is_number()) return Unauthenticated("the token's exp is not a number");
    if (now_s >= payload["exp"].get<double>()) return Unauthenticated("the token has expired");
  }
  if (payload.contains("nbf")) {
    if (!payload["nbf"].is_number()) return Unauthenticated("the token's nbf is not a number");
    if (now_s < payload["nbf"].get<double>()) return Unauthenticated("the token is not valid yet");
  }
  return payload_text;
}

}  // namespace eon::frontend
