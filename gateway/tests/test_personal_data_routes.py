"""The personal-data routes on their own (a scripted RPC pool): what they forward and how they answer."""

from crm_common.errors import Forbidden, ServiceUnavailable


def test_the_export_is_a_json_attachment_named_after_the_contact(client, rpc):
    rpc.answers[("contacts", "export_personal_data")] = {"subject": {"type": "contact", "id": "c1"}, "services": {}}
    response = client.get("/api/v1/contacts/c1/personal-data")
    assert response.status_code == 200 and response.get_json()["subject"]["id"] == "c1"
    assert response.headers["Content-Disposition"] == 'attachment; filename="personal-data-c1.json"'
    assert response.headers["Cache-Control"] == "no-store"
    assert rpc.calls[-1][1:4:2] == ("export_personal_data", {"contact_id": "c1"})


def test_an_odd_id_never_reaches_the_file_name_as_it_is(client, rpc):
    rpc.answers[("contacts", "export_personal_data")] = {}
    response = client.get('/api/v1/contacts/a"b;c/personal-data')
    assert response.headers["Content-Disposition"] == 'attachment; filename="personal-data-contact.json"'


def test_an_export_missing_a_service_is_a_503(client, rpc):
    rpc.answers[("contacts", "export_personal_data")] = ServiceUnavailable("the export needs every service")
    response = client.get("/api/v1/contacts/c1/personal-data")
    assert response.status_code == 503 and "Retry-After" in response.headers


def test_an_erasure_is_accepted_with_its_record_and_where_to_follow_it(client, rpc):
    rpc.answers[("contacts", "erase_contact")] = {"id": "e1", "version": 1, "status": "in_progress"}
    response = client.post("/api/v1/contacts/c1/erase", json={"reason": "asked by the customer"})
    assert response.status_code == 202 and response.get_json()["status"] == "in_progress"
    assert response.headers["Location"].endswith("/api/v1/erasures/e1") and response.headers["ETag"] == '"1"'
    assert rpc.calls[-1][3] == {"contact_id": "c1", "data": {"reason": "asked by the customer"}}

    assert client.post("/api/v1/contacts/c2/erase").status_code == 202  # the body is optional
    assert rpc.calls[-1][3] == {"contact_id": "c2", "data": None}


def test_the_service_decides_who_may_erase(client, rpc):
    rpc.answers[("contacts", "erase_contact")] = Forbidden("your role may not erase personal data")
    assert client.post("/api/v1/contacts/c1/erase").status_code == 403


def test_erasure_records_are_listed_and_read_through_the_contacts_service(client, rpc):
    rpc.answers[("contacts", "list_erasures")] = {"data": [], "next_cursor": None}
    rpc.answers[("contacts", "get_erasure")] = {"id": "e1", "version": 3}
    assert client.get("/api/v1/erasures?status=completed&limit=5").get_json() == {"data": [], "next_cursor": None}
    assert rpc.calls[-1][3] == {"query": {"limit": "5", "where": {"status": "completed"}}}
    response = client.get("/api/v1/erasures/e1")
    assert response.status_code == 200 and response.headers["ETag"] == '"3"'
    assert rpc.calls[-1][3] == {"erasure_id": "e1"}
