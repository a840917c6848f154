"""Users (用户管理): administration within the manager's subtree and below their rank, and the identity audit log."""
