def test_home_answers_in_french_by_default(client, branch):
    response = client.get("/")
    assert response.status_code == 200
    assert response["Content-Language"] == "fr"
    assert "Nos bibliothèques" in response.content.decode()
    assert "Part-Dieu" in response.content.decode()


def test_home_answers_in_english_when_asked(client, branch):
    response = client.get("/en/")
    assert response.status_code == 200
    assert "Our libraries" in response.content.decode()


def test_healthz_checks_the_database(client, db):
    assert client.get("/healthz").content == b"ok"
