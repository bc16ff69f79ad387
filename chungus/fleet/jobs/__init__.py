"""Jobs: batch GPU work queued for the shared pool, preempted by deployments and resumed."""
