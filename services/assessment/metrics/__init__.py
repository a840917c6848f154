"""The metric catalogue (考核数据项): every figure a scheme may read, shipped as data."""
