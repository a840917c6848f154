from tests.factories import bearer, token_for


async def test_login_and_me(gateway, make_user):
    user = await make_user("county_admin", "451025000000")
    token = await token_for(gateway, user)
    response = await gateway.get("/auth/me", headers=bearer(token))
    assert response.status_code == 200
    assert response.json()["role"] == "county_admin"
