//! Request metrics in memory shared between worker processes, summed at scrape time.
