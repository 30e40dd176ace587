"""Side-by-side measurements that print ratios against a named baseline in the same run."""
