#include "server/membership.h"

#include <openssl/sha.h>

#include <algorithm>

namespace etcdpp::server {
namespace {

uint64_t FirstEightBytesBigEndian(const unsigned char* digest) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | digest[i];
  return v;
}

uint64_t Sha1Prefix(const std::string& bytes) {
  unsigned char digest[SHA_DIGEST_LENGTH];
  SHA1(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(), digest);
  return FirstEightBytesBigEndian(digest);
}

}  // namespace

MemberId ComputeMemberId(std::vector<std::string> peer_urls, const std::string& cluster_token) {
  std::sort(peer_urls.begin(), peer_urls.end());
  std::string b;
  for (const auto& u : peer_urls) b += u;
  b += cluster_token;
  return MemberId(Sha1Prefix(b));
}

ClusterId ComputeClusterId(std::vector<MemberId> member_ids) {
  std::sort(member_ids.begin(), member_ids.end());
  std::string b;
  for (MemberId id : member_ids) {
    for (int shift = 56; shift >= 0; shift -= 8) b.push_back(static_cast<char>(id.value() >> shift));
  }
  return ClusterId(Sha1Prefix(b));
}

Result<std::vector<Member>> ParseInitialCluster(const std::string& initial_cluster,
                                                const std::string& cluster_token) {
  std::vector<Member> members;
  size_t start = 0;
  while (start <= initial_cluster.size()) {
    size_t comma = initial_cluster.find(',', start);
    if (comma == std::string::npos) comma = initial_cluster.size();
    std::string item = initial_cluster.substr(start, comma - start);
    start = comma + 1;
    if (item.empty()) continue;
    size_t eq = item.find('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == item.size()) {
      return InvalidArgument("error parsing --initial-cluster: \"" + item +
                             "\" is not a name=url pair");
    }
    std::string name = item.substr(0, eq);
    std::string url = item.substr(eq + 1);
    auto it = std::find_if(members.begin(), members.end(),
                           [&](const Member& m) { return m.name == name; });
    if (it == members.end()) {
      members.push_back(Member{MemberId(0), name, {url}, {}, false});
    } else {
      it->peer_urls.push_back(url);
    }
  }
  if (members.empty()) return InvalidArgument("--initial-cluster is empty");
  for (Member& m : members) m.id = ComputeMemberId(m.peer_urls, cluster_token);
  return members;
}

}  // namespace etcdpp::server
