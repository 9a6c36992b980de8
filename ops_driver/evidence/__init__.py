"""The evidence store: bundles, the ledger, approvals and the guards that refuse a plan or an apply."""
