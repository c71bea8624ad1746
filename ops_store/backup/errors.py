"""The errors a backup or a restore raises."""

from __future__ import annotations

from ops_store.errors import DomainError


class BackupFailed(DomainError):
    code = "backup_failed"


class BackupInvalid(DomainError):
    """The backup folder is incomplete, damaged, or does not match its manifest."""

    code = "backup_invalid"


class RestoreRefused(DomainError):
    code = "restore_refused"
