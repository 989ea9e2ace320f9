#include "frontend/security.h"

#include <gtest/gtest.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>

#include <cstdio>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "frontend/jwt.h"
#include "google/protobuf/empty.pb.h"

namespace eon::frontend {
namespace {

using std::chrono::system_clock;

// A key pair made for the test, able to sign JWTs and describe itself as a JWK.
class TestKey {
 public:
  explicit TestKey(bool ec) : ec_(ec) {
    pkey_ = ec ? EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256")
               : EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<size_t>(2048));
  }
  ~TestKey() { EVP_PKEY_free(pkey_); }

  std::string Jwk(const std::string& kid) const {
    if (ec_) {
      unsigned char point[65];
      size_t length = 0;
      EVP_PKEY_get_octet_string_param(pkey_, OSSL_PKEY_PARAM_PUB_KEY, point, sizeof point,
                                      &length);
      std::string x(reinterpret_cast<char*>(point) + 1, 32), y(reinterpret_cast<char*>(point) + 33, 32);
      return R"({"kty":"EC","crv":"P-256","kid":")" + kid + R"(","x":")" + Base64UrlEncode(x) +
             R"(","y":")" + Base64UrlEncode(y) + R"("})";
    }
    return R"({"kty":"RSA","kid":")" + kid + R"(","n":")" + Bn(OSSL_PKEY_PARAM_RSA_N) +
           R"(","e":")" + Bn(OSSL_PKEY_PARAM_RSA_E) + R"("})";
  }

  std::string Sign(const std::string& kid, const std::string& payload_json) const {
    std::string header = std::string(R"({"alg":")") + (ec_ ? "ES256" : "RS256") +
                         R"(","typ":"JWT","kid":")" + kid + R"("})";
    std::string input = Base64UrlEncode(header) + "." + Base64UrlEncode(payload_json);
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    size_t length = 0;
    EVP_DigestSignInit(ctx, nullptr, EVP_sha256(), nullptr, pkey_);
    EVP_DigestSign(ctx, nullptr, &length, reinterpret_cast<const unsigned char*>(input.data()),
                   input.size());
    std::string signature(length, '\0');
    EVP_DigestSign(ctx, reinterpret_cast<unsigned char*>(signature.data()), &length,
                   reinterpret_cast<const unsigned char*>(input.data()), input.size());
    EVP_MD_CTX_free(ctx);
    signature.resize(length);
    if (ec_) {  // DER to r || s
      const unsigned char* p = reinterpret_cast<const unsigned char*>(signature.data());
      ECDSA_SIG* sig = d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(signature.size()));
      unsigned char raw[64];
      BN_bn2binpad(ECDSA_SIG_get0_r(sig), raw, 32);
      BN_bn2binpad(ECDSA_SIG_get0_s(sig), raw + 32, 32);
      ECDSA_SIG_free(sig);
      signature.assign(reinterpret_cast<char*>(raw), 64);
    }
    return input + "." + Base64UrlEncode(signature);
  }

 private:
  std::string Bn(const char* name) const {
    BIGNUM* bn = nullptr;
    EVP_PKEY_get_bn_param(pkey_, name, &bn);
    std::string bytes(BN_num_bytes(bn), '\0');
    BN_bn2bin(bn, reinterpret_cast<unsigned char*>(bytes.data()));
    BN_free(bn);
    return Base64UrlEncode(bytes);
  }

  bool ec_;
  EVP_PKEY* pkey_ = nullptr;
};

int64_t NowS() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             system_clock::now().time_since_epoch())
      .count();
}

std::string Payload(const std::string& permissions, int64_t exp_offset_s = 3600) {
  return R"({"sub":"alice","exp":)" + std::to_string(NowS() + exp_offset_s) +
         R"(,"permissions":)" + permissions + "}";
}

TEST(Jwt, Base64UrlRoundTrips) {
  std::string out;
  for (const std::string& text :
       std::vector<std::string>{"", "a", "ab", "abc", "abcd", std::string("\xff\x00\x10", 3)}) {
    ASSERT_TRUE(Base64UrlDecode(Base64UrlEncode(text), &out));
    EXPECT_EQ(out, text);
  }
  EXPECT_FALSE(Base64UrlDecode("a+b/", &out));  // base64, not base64url
  EXPECT_FALSE(Base64UrlDecode("a", &out));     // a lone 6-bit group
}

TEST(Jwt, VerifiesRs256AndEs256AndRefusesTheRest) {
  TestKey rsa(false), ec(true), stranger(false);
  auto verifier =
      JwtVerifier::FromJwks(R"({"keys":[)" + rsa.Jwk("r1") + "," + ec.Jwk("e1") + "]}");
  ASSERT_TRUE(verifier.ok()) << verifier.status().message();
  auto now = system_clock::now();

  auto good = (*verifier)->Verify(rsa.Sign("r1", Payload(R"(["default:reader"])")), now);
  ASSERT_TRUE(good.ok()) << good.status().message();
  EXPECT_NE(good->find("alice"), std::string::npos);
  auto good_ec = (*verifier)->Verify(ec.Sign("e1", Payload("[]")), now);
  ASSERT_TRUE(good_ec.ok()) << good_ec.status().message();

  auto refused = [&](const std::string& token, const std::string& why) {
    auto result = (*verifier)->Verify(token, now);
    ASSERT_FALSE(result.ok()) << "accepted: " << why;
    EXPECT_EQ(result.status().code(), StatusCode::UNAUTHENTICATED);
    EXPECT_NE(result.status().message().find(why), std::string::npos)
        << result.status().message();
  };
  refused(stranger.Sign("r1", Payload("[]")), "signature does not verify");       // forged
  refused(rsa.Sign("r1", Payload("[]", -10)), "expired");                         // expired
  refused(rsa.Sign("nope", Payload("[]")), "not in the JWKS");                    // unknown kid
  refused("not-a-token", "not a JWT");                                            // malformed
  refused("a.b.c.d", "not a JWT");
  refused("%%%.abc.def", "not base64url");
  refused(Base64UrlEncode(R"({"alg":"none"})") + "." + Base64UrlEncode(Payload("[]")) + ".",
          "algorithm \"none\"");
  refused(std::string(kJwtLengthMax + 1, 'a'), "too long");
  // A valid signature over a different payload: tampering.
  std::string token = rsa.Sign("r1", Payload(R"(["default:reader"])"));
  std::string tampered = token.substr(0, token.find('.')) + "." +
                         Base64UrlEncode(Payload(R"(["default:admin"])")) +
                         token.substr(token.rfind('.'));
  refused(tampered, "signature does not verify");
}

TEST(Jwt, RefusesBadJwks) {
  EXPECT_FALSE(JwtVerifier::FromJwks("not json").ok());
  EXPECT_FALSE(JwtVerifier::FromJwks(R"({"keys":[]})").ok());
  EXPECT_FALSE(JwtVerifier::FromJwks(R"({"keys":[{"kty":"RSA","n":"!!","e":"AQAB"}]})").ok());
  EXPECT_FALSE(JwtVerifier::FromJwks(R"({"keys":[{"kty":"EC","crv":"P-384","x":"","y":""}]})").ok());
}

TEST(Authorizer, RolesNestAndNamespacesAreSeparate) {
  Claims claims;
  ASSERT_TRUE(AddPermission("default:worker", &claims));
  ASSERT_TRUE(AddPermission("other:reader", &claims));
  EXPECT_FALSE(AddPermission("default", &claims));
  EXPECT_FALSE(AddPermission("default:owner", &claims));
  EXPECT_TRUE(Allows(claims, AccessFor("PollWorkflowTaskQueue"), "default"));
  EXPECT_TRUE(Allows(claims, AccessFor("DescribeNamespace"), "default"));
  EXPECT_FALSE(Allows(claims, AccessFor("StartWorkflowExecution"), "default"));
  EXPECT_FALSE(Allows(claims, AccessFor("PollWorkflowTaskQueue"), "other"));
  EXPECT_TRUE(Allows(claims, AccessFor("ListWorkflowExecutions"), "other"));
  EXPECT_FALSE(Allows(claims, AccessFor("ListWorkflowExecutions"), "third"));
  EXPECT_TRUE(Allows(claims, AccessFor("GetSystemInfo"), ""));  // a health check
  EXPECT_EQ(AccessFor("SomethingNew"), Access::kAdmin);

  Claims writer;
  AddPermission("default:writer", &writer);
  EXPECT_TRUE(Allows(writer, AccessFor("TerminateWorkflowExecution"), "default"));
  EXPECT_TRUE(Allows(writer, AccessFor("PollActivityTaskQueue"), "default"));
  EXPECT_FALSE(Allows(writer, AccessFor("AddSearchAttributes"), "default"));
  EXPECT_FALSE(Allows(writer, AccessFor("ListNamespaces"), ""));  // cluster-wide: system roles

  Claims system;
  AddPermission("temporal-system:admin", &system);
  EXPECT_TRUE(Allows(system, AccessFor("RegisterNamespace"), "anything"));
  EXPECT_TRUE(Allows(system, AccessFor("ListNamespaces"), ""));
}

TEST(RateLimit, TokenBucketRefills) {
  auto t0 = std::chrono::steady_clock::now();
  TokenBucket bucket(10, 2, t0);
  EXPECT_TRUE(bucket.Take(t0));
  EXPECT_TRUE(bucket.Take(t0));
  EXPECT_FALSE(bucket.Take(t0));
  EXPECT_FALSE(bucket.Take(t0 + std::chrono::milliseconds(50)));
  EXPECT_TRUE(bucket.Take(t0 + std::chrono::milliseconds(160)));
  EXPECT_TRUE(bucket.Take(t0 + std::chrono::seconds(10)));  // refilled, but only to the burst
  EXPECT_TRUE(bucket.Take(t0 + std::chrono::seconds(10)));
  EXPECT_FALSE(bucket.Take(t0 + std::chrono::seconds(10)));
}

TEST(SecurityGate, ConfigErrorsNameTheProblem) {
  auto dir = std::filesystem::temp_directory_path() / ("eon-sec-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  auto write = [&](const std::string& name, const std::string& text) {
    std::ofstream((dir / name).string()) << text;
    return (dir / name).string();
  };
  SystemClock clock;
  SecurityOptions options;
  options.auth_config_path = (dir / "missing.json").string();
  EXPECT_FALSE(SecurityGate::Create(options, clock).ok());
  options.auth_config_path = write("bad.json", "{");
  EXPECT_FALSE(SecurityGate::Create(options, clock).ok());
  options.auth_config_path = write("empty.json", "{}");
  auto empty = SecurityGate::Create(options, clock);
  ASSERT_FALSE(empty.ok());
  EXPECT_NE(empty.status().message().find("neither"), std::string::npos);
  options.auth_config_path =
      write("short.json", R"({"api_keys":[{"key":"short","permissions":["default:admin"]}]})");
  EXPECT_FALSE(SecurityGate::Create(options, clock).ok());

  options.auth_config_path = write(
      "keys.json",
      R"({"api_keys":[{"key":"0123456789abcdef-worker","subject":"w","permissions":["default:worker"]}]})");
  auto gate = SecurityGate::Create(options, clock);
  ASSERT_TRUE(gate.ok()) << gate.status().message();
  EXPECT_EQ((*gate)->Authenticate("").status().code(), StatusCode::UNAUTHENTICATED);
  EXPECT_EQ((*gate)->Authenticate("Basic abc").status().code(), StatusCode::UNAUTHENTICATED);
  EXPECT_EQ((*gate)->Authenticate("Bearer 0123456789abcdef-workeR").status().code(),
            StatusCode::UNAUTHENTICATED);
  auto claims = (*gate)->Authenticate("bearer 0123456789abcdef-worker");
  ASSERT_TRUE(claims.ok());
  EXPECT_EQ(claims->subject, "w");

  CallInfo call;
  call.operation = "StartWorkflowExecution";
  call.target.ns = "default";
  call.authorization = "Bearer 0123456789abcdef-worker";
  google::protobuf::Empty request;
  Status denied = (*gate)->Admit(call, request);
  EXPECT_EQ(denied.code(), StatusCode::PERMISSION_DENIED);
  EXPECT_NE(denied.message().find("writer"), std::string::npos) << denied.message();
  call.operation = "PollActivityTaskQueue";
  EXPECT_TRUE((*gate)->Admit(call, request).ok());
  call.authorization.clear();
  EXPECT_EQ((*gate)->Admit(call, request).code(), StatusCode::UNAUTHENTICATED);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace eon::frontend
