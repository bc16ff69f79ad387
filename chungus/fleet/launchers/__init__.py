"""Where engines run: the local, Slurm and Ray launchers behind one contract."""
