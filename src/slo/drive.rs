//! Runs a saturation search on a prepared target (filled in below).
