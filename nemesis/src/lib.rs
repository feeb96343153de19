//! Fault mechanisms for faultline (network partitions, process signals,
//! clock faults). Not built yet: see the nemesis issue.
