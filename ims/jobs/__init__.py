"""Background processes: submit (validate + enqueue), queue (claim/lease/retry SQL), worker."""
