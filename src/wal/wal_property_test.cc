// Placeholder replaced by the RapidCheck crash-recovery property in the next commit.
