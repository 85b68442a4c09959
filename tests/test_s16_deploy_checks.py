"""The sixteenth session's deploy checks: the privacy notice must name who answers for
the patrons' data and where to write (GDPR art. 13), or `check --deploy` says so."""

from django.core.checks.registry import registry

from emporter.privacy.checks import controller_is_named


def test_the_deploy_check_warns_while_the_controller_or_the_contact_is_missing(settings):
    settings.PRIVACY_CONTROLLER, settings.PRIVACY_CONTACT = "", ""
    (warning,) = controller_is_named()
    assert warning.id == "privacy.W001"
    assert "PRIVACY_CONTROLLER and PRIVACY_CONTACT are not set" in warning.msg
    settings.PRIVACY_CONTROLLER = "Réseau des médiathèques de Quimperlé Communauté"
    settings.PRIVACY_CONTACT = "  "  # blank is not an address
    assert [w.msg.split(" is ")[0] for w in controller_is_named()] == ["PRIVACY_CONTACT"]
    settings.PRIVACY_CONTROLLER, settings.PRIVACY_CONTACT = "", "dpo@bibliotheques.example.org"
    assert [w.msg.split(" is ")[0] for w in controller_is_named()] == ["PRIVACY_CONTROLLER"]


def test_the_deploy_check_is_silent_once_both_are_set(settings):
    settings.PRIVACY_CONTROLLER = "Réseau des médiathèques de Quimperlé Communauté"
    settings.PRIVACY_CONTACT = "dpo@bibliotheques.example.org"
    assert controller_is_named() == []


def test_it_runs_with_check_deploy_only():
    assert controller_is_named in registry.get_checks(include_deployment_checks=True)
    assert controller_is_named not in registry.get_checks()  # a developer's `check` stays quiet
