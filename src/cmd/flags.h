// Command line of the etcdpp server: etcd 3.4's flags, ETCD_* environment variables and
// --config-file, turned into a validated server::Config.
//
// Behaviour matched with etcd 3.4.23 (etcdmain/config.go, pkg/flags):
// - Go flag syntax: -flag, --flag, -flag=value, --flag value; boolean flags take a value only
//   with '=' (--client-cert-auth=false); "--" ends the flags; any positional argument is an
//   error ("'x' is not a valid flag").
// - Every flag can also come from ETCD_<FLAG> (upper case, '-' -> '_'). A flag given on the
//   command line AND in the environment is an error (etcd exits on it); ETCD_* variables that
//   match no flag are reported as warnings.
// - --config-file (or ETCD_CONFIG_FILE) loads etcd's YAML format; all other flags and
//   environment variables are then ignored, as in etcd.
// - Every etcd 3.4 flag is accepted (plus the etcd 3.5 flags kubeadm-era manifests pass), so
//   existing command lines start; docs/flags.md says which have no effect yet.
//
// Pure: reads nothing but its arguments (and the YAML file named by --config-file); prints
// nothing. No global state; callable from any thread. Never throws (CLI11 and yaml-cpp
// exceptions are caught inside).
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "base/status.h"
#include "server/config.h"

namespace etcdpp::cmd {

struct ParsedCommandLine {
  enum class Action {
    kRun,           // Start the server with `config`.
    kPrintVersion,  // Print `text` to stdout and exit 0 (--version).
    kPrintHelp,     // Print `text` to stdout and exit 0 (-h, --help).
  };
  Action action = Action::kRun;
  server::Config config;  // Validated with server::ValidateConfig iff action == kRun.
  std::string text;       // Version or help text, ending in '\n'.
  // Things to log once the logger is up: deprecated or ignored flags, flags accepted without
  // effect yet, unrecognized ETCD_* variables, "using config file ...".
  std::vector<std::string> warnings;
  // Flags that were given (command line or environment), without dashes, for the start-up log.
  std::vector<std::string> set_flags;
};

// Parses argv (argv[0] is the program name) and `env` (the process environment, e.g. from
// environ) into a Config, or into a request to print the version or help.
// On error the Status message is the single line to print on stderr, in etcd's words, e.g.
//   flag provided but not defined: -bogus
//   invalid value "abc" for flag -snapshot-count: parse error
//   error verifying flags, --election-timeout[200ms] should be at least as 5 times as
//     --heartbeat-interval[100ms]. See 'etcdpp --help'.
// (the program name in the hint is argv[0]'s base name, so "etcd" when installed as etcd),
// and ExitCodeForParseError() gives the exit status etcd would use.
// Does not run server::ValidateBootstrap: that depends on whether the data dir already holds a
// member, which the server decides.
Result<ParsedCommandLine> ParseCommandLine(int argc, char** argv,
                                           const std::map<std::string, std::string>& env);

// Turns a NULL-terminated "KEY=VALUE" array (main's envp, or `environ`) into the map that
// ParseCommandLine takes. Entries without '=' are skipped.
std::map<std::string, std::string> EnvironmentMap(char** envp);

// Exit status for a failed ParseCommandLine, as etcd: 2 for the usage errors Go's flag package
// reports (unknown flag, malformed value, missing argument, bad syntax), 1 for everything else
// (stray argument, conflicting environment variable, verification or config file error).
int ExitCodeForParseError(const Status& status);

// "ETCD_" + flag upper-cased with '-' -> '_': "listen-client-urls" -> "ETCD_LISTEN_CLIENT_URLS".
std::string FlagToEnv(std::string_view flag);

// How much of a flag etcdpp honours; docs/flags.md must agree (flags_test checks).
enum class Support {
  kImplemented,  // Parsed, validated, and part of the server's contract.
  kNoEffect,     // Accepted and validated so command lines start; no effect yet.
  kIgnored,      // etcd itself ignores it (legacy v2 flags); we warn likewise.
  kRefused,      // A certificate check we do not enforce yet: a value refuses start-up, so that
                 // an operator never believes a check is in force when it is not.
};

// One row of the flag table, for help text, docs and tests.
struct FlagInfo {
  std::string name;          // Without dashes.
  std::string default_text;  // As shown in --help.
  std::string group;         // Help section.
  std::string help;
  Support support;
  bool is_bool;
};
std::vector<FlagInfo> AllFlags();

// The texts printed for --help and --version.
std::string HelpText();
std::string VersionText();

}  // namespace etcdpp::cmd
