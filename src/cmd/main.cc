// etcdpp: the server binary (also installed as `etcd`). Parses etcd's command line, builds the
// member and serves until SIGTERM/SIGINT, then stops gracefully.
#include <signal.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <cstdio>
#include <string>
#include <vector>

#include "cmd/flags.h"
#include "cmd/snapshot_restore.h"
#include "server/etcd_server.h"

extern char** environ;

namespace {

// etcd logs JSON lines (zap) to stderr; operators' log pipelines parse them.
void SetUpLogging(const std::string& level) {
  auto logger = spdlog::stderr_logger_mt("etcdpp");
  logger->set_pattern(R"({"level":"%l","ts":"%Y-%m-%dT%H:%M:%S.%f%z","msg":"%v"})");
  // etcd's levels: debug, info, warn, error, panic, dpanic, fatal.
  spdlog::level::level_enum l = spdlog::level::info;
  if (level == "debug") l = spdlog::level::debug;
  if (level == "warn") l = spdlog::level::warn;
  if (level == "error") l = spdlog::level::err;
  if (level == "panic" || level == "dpanic" || level == "fatal") l = spdlog::level::critical;
  logger->set_level(l);
  logger->flush_on(spdlog::level::info);
  spdlog::set_default_logger(logger);
}

}  // namespace

int main(int argc, char** argv) {
  // `etcdpp snapshot restore …`: the operator tool etcd keeps in etcdctl (cmd/snapshot_restore.h).
  if (argc >= 2 && std::string(argv[1]) == "snapshot") {
    return etcdpp::cmd::RunSnapshotCommand(std::vector<std::string>(argv + 2, argv + argc));
  }
  auto parsed = etcdpp::cmd::ParseCommandLine(argc, argv, etcdpp::cmd::EnvironmentMap(environ));
  if (!parsed.ok()) {
    std::fprintf(stderr, "%s\n", parsed.status().message().c_str());
    return etcdpp::cmd::ExitCodeForParseError(parsed.status());
  }
  if (parsed->action != etcdpp::cmd::ParsedCommandLine::Action::kRun) {
    std::fputs(parsed->text.c_str(), stdout);
    return 0;
  }
  SetUpLogging(parsed->config.log_level);
  for (const auto& w : parsed->warnings) spdlog::warn("{}", w);

  // Block the stop signals before any thread starts, so only the main thread receives them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  auto server = etcdpp::server::EtcdServer::Create(parsed->config);
  if (!server.ok()) {
    spdlog::critical("cannot start: {}", server.status().message());
    return 1;
  }
  etcdpp::Status started = (*server)->Start();
  if (!started.ok()) {
    spdlog::critical("cannot start: {}", started.message());
    return 1;
  }
  int sig = 0;
  sigwait(&stop_signals, &sig);
  spdlog::info("received {}, shutting down", sig == SIGTERM ? "SIGTERM" : "SIGINT");
  (*server)->Stop();
  return 0;
}
