"""What hosts have (NVML or declared), sampled over time for the GPU chart."""
