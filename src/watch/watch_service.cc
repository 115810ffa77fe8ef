#include "watch/watch_service.h"

#include <algorithm>
#include <memory>
#include <string>

#include "etcdserverpb/rpc.pb.h"
#include "grpc/typed.h"
#include "net/event_loop.h"

namespace etcdpp::watch {
namespace {

// gRPC message overhead etcd adds to --max-request-bytes for its send limit
// (v3rpc grpcOverheadBytes).
constexpr size_t kGrpcOverheadBytes = 512 * 1024;

class StreamSink : public WatchSink {
 public:
  explicit StreamSink(grpc::ServerStream stream) : stream_(std::move(stream)) {}
  Status Send(std::string response) override { return stream_.Send(std::move(response)); }
  size_t pending_bytes() const override { return stream_.pending_bytes(); }
  void Finish(const Status& status) override { stream_.Finish(status); }

 private:
  grpc::ServerStream stream_;
};

class WatchStreamHandler : public grpc::TypedStreamHandler<etcdserverpb::WatchRequest> {
 public:
  WatchStreamHandler(WatchHub* hub, WatchHub::StreamId id) : hub_(hub), id_(id) {}
  ~WatchStreamHandler() override { hub_->CloseStream(id_); }

  void OnRequest(etcdserverpb::WatchRequest&& req) override {
    switch (req.request_union_case()) {
      case etcdserverpb::WatchRequest::kCreateRequest:
        hub_->Create(id_, req.create_request());
        break;
      case etcdserverpb::WatchRequest::kCancelRequest:
        hub_->Cancel(id_, req.cancel_request().watch_id());
        break;
      case etcdserverpb::WatchRequest::kProgressRequest:
        hub_->RequestProgress(id_);
        break;
      default:
        break;  // etcd ignores unknown requests rather than ending the stream
    }
  }
  // etcd's recvLoop returns on EOF without ending the stream: watches keep delivering.
  void OnHalfClose() override {}
  void OnCancel() override { hub_->CloseStream(id_); }

 private:
  WatchHub* hub_;
  WatchHub::StreamId id_;
};

bool HasLeader(const server::ApiContext* context) {
  return context->node != nullptr && context->node->leader() != MemberId(0);
}

}  // namespace

WatchHubOptions HubOptionsFor(const server::ApiContext* context) {
  WatchHubOptions o;
  if (context->config != nullptr) {
    o.max_fragment_bytes = context->config->max_request_bytes + kGrpcOverheadBytes;
    int64_t ms = context->config->experimental_watch_progress_notify_interval_ms;
    // etcd raises intervals below 100 ms to 100 ms (v3rpc minWatchProgressInterval).
    if (ms > 0) o.progress_notify_interval = std::chrono::milliseconds(std::max<int64_t>(ms, 100));
  }
  o.fill_header = [context](etcdserverpb::ResponseHeader* h, int64_t rev) {
    context->FillHeader(h, rev);
  };
  o.around_dispatch = [](const std::function<void()>& dispatch) {
    net::EventLoop::WakeBatch batch;
    dispatch();
  };
  return o;
}

void RegisterWatchService(grpc::Registry* registry, const server::ApiContext* context,
                          WatchHub* hub) {
  grpc::AddTypedStream<etcdserverpb::WatchRequest, etcdserverpb::WatchResponse>(
      *registry, "/etcdserverpb.Watch/Watch",
      [context, hub](grpc::CallContext& ctx, grpc::TypedStream<etcdserverpb::WatchResponse> out)
          -> std::unique_ptr<grpc::TypedStreamHandler<etcdserverpb::WatchRequest>> {
        const std::string* hl = ctx.GetMetadata("hasleader");
        auto leader = (hl != nullptr && *hl == "true") ? LeaderRequirement::kRequireLeader
                                                       : LeaderRequirement::kNone;
        if (leader == LeaderRequirement::kRequireLeader && !HasLeader(context)) {
          out.Finish(Unavailable(std::string(kErrNoLeader)));
          return nullptr;
        }
        auto id = hub->OpenStream(std::make_shared<StreamSink>(out.raw()), leader);
        return std::make_unique<WatchStreamHandler>(hub, id);
      });
}

}  // namespace etcdpp::watch
