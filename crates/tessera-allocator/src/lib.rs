//! The provisioning job: plan, seal, write, resume, verify and report partitions.
