//! haoka-batch: the SFTP / object-store batch loader. Filled by a later issue.
