"""Deploy tooling, outside the job code path: the cluster policy as code (``medallion policies
check|sync``) and the repository secret scan. No job imports this package at run time."""
