"""Names of the files an MD job keeps in its directory (all chosen here, none by a user)."""

PREPARED_PDB = "prepared.pdb"  # the structure as simulated: repaired, hydrogens, solvent
SYSTEM_XML = "system.xml"  # the OpenMM system built from it, so a resume skips preparation
TRAJECTORY_FILE = "trajectory.dcd"
ENERGIES_FILE = "energies.csv"
CHECKPOINT_FILE = "checkpoint.json"  # names the state file of the last checkpoint
FINAL_PDB = "final.pdb"
LOG_FILE = "job.log"  # the runner's stdout, as CHUNGUS captures it
