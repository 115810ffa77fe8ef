// Placeholder replaced by the snapshotter tests in the next commit.
