// WatcherIndex: finds the watchers whose key or key range contains a given key without looking
// at any other watcher. Single-key watchers sit in a hash map; range watchers in an interval
// tree (a treap ordered by range start, each node augmented with the largest range end in its
// subtree). Watchers with the same range share one node, so 10,000 watchers of one prefix cost
// one tree node and one stabbing step.
//
// Worked example. Ranges [a,c) {w1}, [b,d) {w2, w3}, [e,∞) {w4}; single keys "b" {w5}.
//   Match("b"): hash hit {w5}; the tree descends only into subtrees whose max end > "b" and
//   whose start ≤ "b": [a,c) and [b,d) contain "b" → w1, w2, w3. [e,∞) is skipped because its
//   start "e" > "b" (everything right of it starts later still).
//   Cost: O(log n + matches) expected, n = number of distinct ranges.
//
// Thread safety: none; the owner (WatchHub) guards it with its mutex.
// Invariants: a watcher is in at most one slot of one index; node.max_end is the maximum end
// of the node's subtree (an unbounded end is larger than every key).
#pragma once

#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace etcdpp::watch {

// A watched key or key range in etcd's convention after WatchServer normalisation:
//   single key:  end empty and !from_key;
//   from key:    every key ≥ key (etcd's range_end "\0");
//   range:       [key, end), REQUIRES key < end.
struct KeyRange {
  std::string key;
  std::string end;
  bool from_key = false;

  bool is_single() const { return end.empty() && !from_key; }
  bool Contains(std::string_view k) const {
    if (is_single()) return k == key;
    if (k < key) return false;
    return from_key || k < end;
  }
  friend bool operator==(const KeyRange&, const KeyRange&) = default;
};

template <typename T>
class WatcherIndex {
 public:
  WatcherIndex() : rng_(0x5eed) {}
  ~WatcherIndex() { Destroy(root_); }
  WatcherIndex(const WatcherIndex&) = delete;
  WatcherIndex& operator=(const WatcherIndex&) = delete;

  // REQUIRES: w not already present under r.
  void Add(const KeyRange& r, T* w) {
    ++size_;
    if (r.is_single()) {
      keys_[r.key].insert(w);
      return;
    }
    Node* n = Find(r);
    if (n == nullptr) {
      n = new Node(r, static_cast<uint32_t>(rng_()));
      Node *lo, *hi;
      Split(root_, n->order(), &lo, &hi);
      root_ = Merge(Merge(lo, n), hi);
      ++nodes_;
    }
    n->slot.insert(w);
  }

  // Returns true iff w was present under r.
  bool Remove(const KeyRange& r, T* w) {
    if (r.is_single()) {
      auto it = keys_.find(r.key);
      if (it == keys_.end() || it->second.erase(w) == 0) return false;
      if (it->second.empty()) keys_.erase(it);
      --size_;
      return true;
    }
    Node* n = Find(r);
    if (n == nullptr || n->slot.erase(w) == 0) return false;
    --size_;
    if (n->slot.empty()) {
      root_ = Erase(root_, n->order());
      delete n;
      --nodes_;
    }
    return true;
  }

  // Calls fn(T*) for every watcher whose range contains key (each once; order unspecified).
  template <typename Fn>
  void Match(std::string_view key, Fn&& fn) const {
    if (!keys_.empty()) {
      auto it = keys_.find(std::string(key));
      if (it != keys_.end()) {
        for (T* w : it->second) fn(w);
      }
    }
    Stab(root_, key, fn);
  }

  // Calls fn(T*) for every watcher.
  template <typename Fn>
  void ForEach(Fn&& fn) const {
    for (const auto& [k, set] : keys_) {
      for (T* w : set) fn(w);
    }
    Walk(root_, fn);
  }

  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  // Number of distinct ranges in the tree (for tests and metrics).
  size_t range_nodes() const { return nodes_; }
  // Height of the tree (for tests: stays logarithmic).
  size_t height() const { return Height(root_); }

 private:
  // Ordering of ranges in the tree: by start, then from_key, then end.
  struct Order {
    std::string_view key;
    bool from_key;
    std::string_view end;
    bool operator<(const Order& o) const {
      if (key != o.key) return key < o.key;
      if (from_key != o.from_key) return from_key < o.from_key;
      return end < o.end;
    }
  };

  struct Node {
    Node(const KeyRange& r, uint32_t p) : range(r), priority(p) { Update(); }
    KeyRange range;
    uint32_t priority;
    Node* left = nullptr;
    Node* right = nullptr;
    // Largest end in this subtree; max_inf: some range in it is unbounded.
    bool max_inf = false;
    std::string_view max_end;
    std::unordered_set<T*> slot;

    Order order() const { return Order{range.key, range.from_key, range.end}; }
    void Update() {
      max_inf = range.from_key;
      max_end = range.end;
      for (Node* c : {left, right}) {
        if (c == nullptr) continue;
        if (c->max_inf) max_inf = true;
        if (c->max_end > max_end) max_end = c->max_end;
      }
    }
  };

  Node* Find(const KeyRange& r) const {
    Order o{r.key, r.from_key, r.end};
    Node* n = root_;
    while (n != nullptr) {
      Order no = n->order();
      if (o < no) {
        n = n->left;
      } else if (no < o) {
        n = n->right;
      } else {
        return n;
      }
    }
    return nullptr;
  }

  // Splits t into nodes ordered < o (lo) and ≥ o (hi).
  static void Split(Node* t, const Order& o, Node** lo, Node** hi) {
    if (t == nullptr) {
      *lo = *hi = nullptr;
      return;
    }
    if (t->order() < o) {
      Split(t->right, o, &t->right, hi);
      *lo = t;
    } else {
      Split(t->left, o, lo, &t->left);
      *hi = t;
    }
    t->Update();
  }

  // REQUIRES: every node of a orders before every node of b.
  static Node* Merge(Node* a, Node* b) {
    if (a == nullptr) return b;
    if (b == nullptr) return a;
    if (a->priority > b->priority) {
      a->right = Merge(a->right, b);
      a->Update();
      return a;
    }
    b->left = Merge(a, b->left);
    b->Update();
    return b;
  }

  static Node* Erase(Node* t, const Order& o) {
    if (t == nullptr) return nullptr;
    Order to = t->order();
    if (o < to) {
      t->left = Erase(t->left, o);
    } else if (to < o) {
      t->right = Erase(t->right, o);
    } else {
      Node* m = Merge(t->left, t->right);
      t->left = t->right = nullptr;
      return m;
    }
    t->Update();
    return t;
  }

  template <typename Fn>
  static void Stab(const Node* n, std::string_view key, Fn& fn) {
    while (n != nullptr) {
      // Nothing below ends after key: no range here can contain it.
      if (!n->max_inf && n->max_end <= key) return;
      Stab(n->left, key, fn);
      // Ranges to the right start at or after n's start.
      if (n->range.key > key) return;
      if (n->range.Contains(key)) {
        for (T* w : n->slot) fn(w);
      }
      n = n->right;
    }
  }

  template <typename Fn>
  static void Walk(const Node* n, Fn& fn) {
    if (n == nullptr) return;
    Walk(n->left, fn);
    for (T* w : n->slot) fn(w);
    Walk(n->right, fn);
  }

  static size_t Height(const Node* n) {
    if (n == nullptr) return 0;
    return 1 + std::max(Height(n->left), Height(n->right));
  }

  static void Destroy(Node* n) {
    if (n == nullptr) return;
    Destroy(n->left);
    Destroy(n->right);
    delete n;
  }

  std::unordered_map<std::string, std::unordered_set<T*>> keys_;
  Node* root_ = nullptr;
  size_t size_ = 0;
  size_t nodes_ = 0;
  std::minstd_rand rng_;
};

}  // namespace etcdpp::watch
