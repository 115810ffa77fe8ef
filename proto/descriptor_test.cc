// Checks that our .proto files describe exactly etcd v3.4's wire contract.
//
// At test time we copy etcd's own .proto files (from Debian's golang-etcd-server-dev) into a
// temporary directory, strip the gogoproto and google.api imports and options (they change Go
// code generation and the JSON gateway, never the wire), compile both sides with protoc into
// FileDescriptorSets, and compare them package by package. Options, comments, file names,
// import paths and declaration order are ignored; everything a client decodes is compared:
// message and enum names and nesting, field name/number/type/label/type_name/oneof, enum
// values, service methods with their input/output types and streaming flags.
//
// The comparison flattens each side into a set of one-line "facts" so a mismatch prints as the
// exact lines missing on one side, e.g. "field .etcdserverpb.RangeRequest.limit #3 ...".

#include <google/protobuf/descriptor.pb.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace etcdpp::proto {
namespace {

namespace fs = std::filesystem;
using google::protobuf::DescriptorProto;
using google::protobuf::EnumDescriptorProto;
using google::protobuf::FieldDescriptorProto;
using google::protobuf::FileDescriptorSet;

// The packages that make up etcd's client API. Our etcdpp.internal package is ours alone.
const std::vector<std::string> kComparedPackages = {"mvccpb", "authpb", "etcdserverpb",
                                                    "v3electionpb", "v3lockpb"};

// etcd's files, relative to its source root; their imports use "etcd/<this path>".
const std::vector<std::string> kEtcdProtoFiles = {
    "mvcc/mvccpb/kv.proto",
    "auth/authpb/auth.proto",
    "etcdserver/etcdserverpb/rpc.proto",
    "etcdserver/api/v3election/v3electionpb/v3election.proto",
    "etcdserver/api/v3lock/v3lockpb/v3lock.proto",
};

const std::vector<std::string> kOurProtoFiles = {
    "mvccpb/kv.proto",        "authpb/auth.proto",
    "etcdserverpb/rpc.proto", "v3electionpb/v3election.proto",
    "v3lockpb/v3lock.proto",
};

std::string ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

void WriteFile(const fs::path& path, const std::string& text) {
  fs::create_directories(path.parent_path());
  std::ofstream out(path, std::ios::binary);
  out << text;
}

// Removes `option (<prefix>...) = <value>;` statements whose value may be a brace-balanced
// aggregate (google.api.http spans several lines and nests additional_bindings), and
// `[(<prefix>...) = ...]` field option lists.
std::string StripOptions(const std::string& text, const std::string& prefix) {
  std::string out;
  size_t i = 0;
  const std::string stmt = "option (" + prefix;
  const std::string field_opt = "[(" + prefix;
  while (i < text.size()) {
    if (text.compare(i, stmt.size(), stmt) == 0) {
      // Skip to the ';' that ends the statement at brace depth 0.
      int depth = 0;
      while (i < text.size()) {
        char c = text[i++];
        if (c == '{') ++depth;
        if (c == '}') --depth;
        if (c == ';' && depth == 0) break;
      }
      continue;
    }
    if (text.compare(i, field_opt.size(), field_opt) == 0) {
      while (i < text.size() && text[i] != ']') ++i;
      ++i;  // The ']'.
      continue;
    }
    out += text[i++];
  }
  return out;
}

// Turns one of etcd's .proto texts into plain proto3 that protoc compiles without the
// gogoproto and googleapis include trees.
std::string StripEtcdAnnotations(std::string text) {
  for (const std::string imp :
       {"import \"gogoproto/gogo.proto\";", "import \"google/api/annotations.proto\";"}) {
    for (size_t pos; (pos = text.find(imp)) != std::string::npos;) text.erase(pos, imp.size());
  }
  text = StripOptions(text, "gogoproto.");
  text = StripOptions(text, "google.api.");
  return text;
}

// Runs protoc; returns "" on success, else protoc's diagnostics.
std::string RunProtoc(const std::vector<fs::path>& include_dirs,
                      const std::vector<std::string>& files, const fs::path& out,
                      const fs::path& work_dir) {
  std::string cmd = std::string("'") + ETCDPP_PROTOC +
                    "' --include_imports --descriptor_set_out='" + out.string() + "'";
  for (const auto& dir : include_dirs) cmd += " -I'" + dir.string() + "'";
  for (const auto& f : files) cmd += " '" + f + "'";
  const fs::path err = work_dir / (out.filename().string() + ".stderr");
  cmd += " 2>'" + err.string() + "'";
  if (std::system(cmd.c_str()) != 0) return "protoc failed: " + cmd + "\n" + ReadFile(err);
  return "";
}

struct Facts {
  // package -> sorted facts.
  std::map<std::string, std::set<std::string>> by_package;
};

void AddEnumFacts(const std::string& pkg, const std::string& scope, const EnumDescriptorProto& e,
                  Facts* facts) {
  const std::string name = scope + "." + e.name();
  auto& set = facts->by_package[pkg];
  set.insert("enum " + name);
  for (const auto& v : e.value()) {
    set.insert("enumvalue " + name + "." + v.name() + " = " + std::to_string(v.number()));
  }
}

void AddMessageFacts(const std::string& pkg, const std::string& scope, const DescriptorProto& m,
                     Facts* facts) {
  const std::string name = scope + "." + m.name();
  auto& set = facts->by_package[pkg];
  set.insert("message " + name);
  for (const auto& f : m.field()) {
    std::string oneof;
    if (f.has_oneof_index()) oneof = m.oneof_decl(f.oneof_index()).name();
    set.insert("field " + name + "." + f.name() + " #" + std::to_string(f.number()) + " " +
               FieldDescriptorProto::Type_Name(f.type()) + " " +
               FieldDescriptorProto::Label_Name(f.label()) + " type_name=" + f.type_name() +
               " oneof=" + oneof + (f.proto3_optional() ? " proto3_optional" : ""));
  }
  for (const auto& o : m.oneof_decl()) set.insert("oneof " + name + "." + o.name());
  for (const auto& nested : m.nested_type()) AddMessageFacts(pkg, name, nested, facts);
  for (const auto& e : m.enum_type()) AddEnumFacts(pkg, name, e, facts);
}

Facts Flatten(const FileDescriptorSet& set) {
  Facts facts;
  for (const auto& file : set.file()) {
    const std::string& pkg = file.package();
    const std::string scope = "." + pkg;
    facts.by_package[pkg];  // A package with no declarations still shows up.
    for (const auto& m : file.message_type()) AddMessageFacts(pkg, scope, m, &facts);
    for (const auto& e : file.enum_type()) AddEnumFacts(pkg, scope, e, &facts);
    for (const auto& s : file.service()) {
      const std::string svc = scope + "." + s.name();
      facts.by_package[pkg].insert("service " + svc);
      for (const auto& m : s.method()) {
        facts.by_package[pkg].insert("method " + svc + "." + m.name() + "(" +
                                     (m.client_streaming() ? "stream " : "") + m.input_type() +
                                     ") returns (" + (m.server_streaming() ? "stream " : "") +
                                     m.output_type() + ")");
      }
    }
  }
  return facts;
}

// Returns a human-readable list of differences in the compared packages; "" when equal.
std::string Diff(const FileDescriptorSet& etcd, const FileDescriptorSet& ours) {
  const Facts a = Flatten(etcd);
  const Facts b = Flatten(ours);
  std::string diff;
  for (const auto& pkg : kComparedPackages) {
    auto ia = a.by_package.find(pkg);
    auto ib = b.by_package.find(pkg);
    if (ia == a.by_package.end()) diff += "package " + pkg + " missing in etcd's set\n";
    if (ib == b.by_package.end()) diff += "package " + pkg + " missing in ours\n";
    if (ia == a.by_package.end() || ib == b.by_package.end()) continue;
    for (const auto& fact : ia->second) {
      if (!ib->second.count(fact)) diff += "only in etcd: " + fact + "\n";
    }
    for (const auto& fact : ib->second) {
      if (!ia->second.count(fact)) diff += "only in ours: " + fact + "\n";
    }
  }
  return diff;
}

bool LoadSet(const fs::path& path, FileDescriptorSet* set) {
  std::ifstream in(path, std::ios::binary);
  return in && set->ParseFromIstream(&in);
}

class DescriptorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "etcdpp-descriptor-XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    work_ = tmpl;

    // etcd's side: <work>/etcd-src/etcd/<path>, so its "etcd/..." imports resolve.
    const fs::path etcd_root = ETCD_SOURCE_DIR;
    const fs::path etcd_include = work_ / "etcd-src";
    std::vector<std::string> etcd_files;
    for (const auto& rel : kEtcdProtoFiles) {
      const fs::path src = etcd_root / rel;
      ASSERT_TRUE(fs::exists(src)) << src << " missing; install golang-etcd-server-dev";
      WriteFile(etcd_include / "etcd" / rel, StripEtcdAnnotations(ReadFile(src)));
      etcd_files.push_back("etcd/" + rel);
    }
    std::string err =
        RunProtoc({etcd_include, PROTOBUF_INCLUDE_DIR}, etcd_files, work_ / "etcd.pb", work_);
    ASSERT_EQ(err, "");
    err = RunProtoc({ETCDPP_PROTO_SOURCE_DIR}, kOurProtoFiles, work_ / "ours.pb", work_);
    ASSERT_EQ(err, "");
    ASSERT_TRUE(LoadSet(work_ / "etcd.pb", &etcd_));
    ASSERT_TRUE(LoadSet(work_ / "ours.pb", &ours_));
  }

  void TearDown() override {
    std::error_code ec;
    if (!work_.empty()) fs::remove_all(work_, ec);
  }

  FieldDescriptorProto* FindField(const std::string& message, const std::string& field) {
    for (auto& file : *ours_.mutable_file()) {
      for (auto& m : *file.mutable_message_type()) {
        if (m.name() != message) continue;
        for (auto& f : *m.mutable_field()) {
          if (f.name() == field) return &f;
        }
      }
    }
    return nullptr;
  }

  fs::path work_;
  FileDescriptorSet etcd_;
  FileDescriptorSet ours_;
};

TEST_F(DescriptorTest, OursMatchEtcd) {
  const std::string diff = Diff(etcd_, ours_);
  EXPECT_EQ(diff, "") << "our protos differ from etcd's:\n" << diff;
}

TEST_F(DescriptorTest, BothSetsAreNonTrivial) {
  // Guards against a comparison that passes because both sides came out empty.
  const Facts facts = Flatten(etcd_);
  for (const auto& pkg : kComparedPackages) {
    ASSERT_TRUE(facts.by_package.count(pkg)) << pkg;
    EXPECT_GT(facts.by_package.at(pkg).size(), 5u) << pkg;
  }
  EXPECT_TRUE(facts.by_package.at("etcdserverpb")
                  .count("method .etcdserverpb.Watch.Watch(stream .etcdserverpb.WatchRequest) "
                         "returns (stream .etcdserverpb.WatchResponse)"));
}

TEST_F(DescriptorTest, DetectsChangedFieldNumber) {
  FieldDescriptorProto* f = FindField("RangeRequest", "limit");
  ASSERT_NE(f, nullptr);
  f->set_number(99);
  EXPECT_NE(Diff(etcd_, ours_).find("RangeRequest.limit #3"), std::string::npos);
}

TEST_F(DescriptorTest, DetectsChangedFieldTypeAndOneof) {
  FieldDescriptorProto* f = FindField("LeaseGrantRequest", "TTL");
  ASSERT_NE(f, nullptr);
  f->set_type(FieldDescriptorProto::TYPE_UINT64);
  EXPECT_NE(Diff(etcd_, ours_), "");

  ASSERT_TRUE(LoadSet(work_ / "ours.pb", &ours_));
  FieldDescriptorProto* g = FindField("Compare", "value");
  ASSERT_NE(g, nullptr);
  g->clear_oneof_index();
  EXPECT_NE(Diff(etcd_, ours_), "");
}

TEST_F(DescriptorTest, DetectsChangedStreamingAndEnumValue) {
  bool changed_method = false;
  for (auto& file : *ours_.mutable_file()) {
    for (auto& s : *file.mutable_service()) {
      for (auto& m : *s.mutable_method()) {
        if (m.name() == "LeaseKeepAlive") {
          m.set_client_streaming(false);
          changed_method = true;
        }
      }
    }
  }
  ASSERT_TRUE(changed_method);
  EXPECT_NE(Diff(etcd_, ours_).find("LeaseKeepAlive"), std::string::npos);

  ASSERT_TRUE(LoadSet(work_ / "ours.pb", &ours_));
  bool changed_enum = false;
  for (auto& file : *ours_.mutable_file()) {
    for (auto& e : *file.mutable_enum_type()) {
      if (e.name() == "AlarmType") {
        e.mutable_value(2)->set_number(7);
        changed_enum = true;
      }
    }
  }
  ASSERT_TRUE(changed_enum);
  EXPECT_NE(Diff(etcd_, ours_).find("AlarmType"), std::string::npos);
}

TEST(StripEtcdAnnotationsTest, RemovesNestedHttpOptionsAndGogoFieldOptions) {
  const std::string in =
      "import \"gogoproto/gogo.proto\";\n"
      "option (gogoproto.marshaler_all) = true;\n"
      "service S {\n"
      "  rpc M(A) returns (B) {\n"
      "    option (google.api.http) = { post: \"/x\" body: \"*\"\n"
      "      additional_bindings { post: \"/y\" body: \"*\" } };\n"
      "  }\n"
      "}\n"
      "message A { int64 x = 1 [(gogoproto.nullable) = false]; }\n";
  const std::string out = StripEtcdAnnotations(in);
  EXPECT_EQ(out.find("gogoproto"), std::string::npos) << out;
  EXPECT_EQ(out.find("google.api"), std::string::npos) << out;
  EXPECT_NE(out.find("rpc M(A) returns (B) {"), std::string::npos) << out;
  EXPECT_NE(out.find("int64 x = 1 ;"), std::string::npos) << out;
}

}  // namespace
}  // namespace etcdpp::proto
