"""Google Cloud roles by name: those bhsvc grants, and those an error names as
holding a permission that the credentials in use lack."""

from __future__ import annotations

# Granted by init, on the repository or on the pusher's own policy.
WRITER_ROLE = "roles/artifactregistry.writer"
READER_ROLE = "roles/artifactregistry.reader"
WORKLOAD_IDENTITY_ROLE = "roles/iam.workloadIdentityUser"

# Named in errors: what bhsvc's own calls need.
AR_ADMIN = "roles/artifactregistry.admin"
AR_READER = READER_ROLE
SA_ADMIN = "roles/iam.serviceAccountAdmin"
SA_VIEWER = "roles/iam.serviceAccountViewer"
KEY_ADMIN = "roles/iam.serviceAccountKeyAdmin"
