"""The project library (项目库): projects, 四议两公开 approval, beneficiaries, implementation, acceptance, assets."""
