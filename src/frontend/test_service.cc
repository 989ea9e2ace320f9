#include "frontend/test_service.h"

#include "temporal/api/testservice/v1/request_response.pb.h"

namespace eon::frontend {
namespace {

namespace ts = temporal::api::testservice::v1;
constexpr const char* kTestService = "temporal.api.testservice.v1.TestService";

class TestService final : public ServiceHandle {
 public:
  TestService(history::TimeSkipper& skipper, const Clock& clock)
      : skipper_(skipper), clock_(clock) {}

  void Register(RpcRouter& router) {
    router.Unary<ts::LockTimeSkippingRequest, ts::LockTimeSkippingResponse>(
        kTestService, "LockTimeSkipping",
        [this](CallContext&, const auto&) -> Result<ts::LockTimeSkippingResponse> {
          skipper_.Lock();
          return ts::LockTimeSkippingResponse();
        });
    router.Unary<ts::UnlockTimeSkippingRequest, ts::UnlockTimeSkippingResponse>(
        kTestService, "UnlockTimeSkipping",
        [this](CallContext&, const auto&) -> Result<ts::UnlockTimeSkippingResponse> {
          EON_RETURN_IF_ERROR(skipper_.Unlock());
          return ts::UnlockTimeSkippingResponse();
        });
    router.Unary<google::protobuf::Empty, ts::GetCurrentTimeResponse>(
        kTestService, "GetCurrentTime",
        [this](CallContext&, const auto&) -> Result<ts::GetCurrentTimeResponse> {
          ts::GetCurrentTimeResponse response;
          *response.mutable_time() = ToTimestamp(clock_.Now());
          return response;
        });
    // Sleep and SleepUntil hold an unlock while they wait, if there is a lock to release (as the
    // Java test server does); UnlockTimeSkippingWithSleep requires one.
    router.Async<ts::SleepRequest, ts::SleepResponse>(
        kTestService, "Sleep", [this](auto ctx, const ts::SleepRequest& r, auto done) {
          Sleep(*ctx, clock_.Now() + FromProtoDuration(r.duration()), /*require_lock=*/false, done);
        });
    router.Async<ts::SleepUntilRequest, ts::SleepResponse>(
        kTestService, "SleepUntil", [this](auto ctx, const ts::SleepUntilRequest& r, auto done) {
          Sleep(*ctx, FromTimestamp(r.timestamp()), /*require_lock=*/false, done);
        });
    router.Async<ts::SleepRequest, ts::SleepResponse>(
        kTestService, "UnlockTimeSkippingWithSleep",
        [this](auto ctx, const ts::SleepRequest& r, auto done) {
          Sleep(*ctx, clock_.Now() + FromProtoDuration(r.duration()), /*require_lock=*/true, done);
        });
  }

 private:
  void Sleep(CallContext& ctx, TimePoint until, bool require_lock,
             std::function<void(Result<ts::SleepResponse>)> done) {
    auto wake = [done] { done(ts::SleepResponse()); };
    auto slept = skipper_.SleepUntil(until, /*unlock=*/true, wake);
    if (!slept.ok() && !require_lock) slept = skipper_.SleepUntil(until, /*unlock=*/false, wake);
    if (!slept.ok()) return done(slept.status());
    // A caller that leaves ends its sleep (else the call would never finish).
    ctx.OnCancel([this, id = *slept, done] {
      if (skipper_.CancelSleep(id)) done(Status(StatusCode::CANCELLED, "the caller went away"));
    });
  }

  history::TimeSkipper& skipper_;
  const Clock& clock_;
};

}  // namespace

std::unique_ptr<ServiceHandle> RegisterTestService(RpcRouter& router, history::TimeSkipper& skipper,
                                                   const Clock& clock) {
  auto service = std::make_unique<TestService>(skipper, clock);
  service->Register(router);
  return service;
}

}  // namespace eon::frontend
