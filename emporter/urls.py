from django.conf import settings
from django.conf.urls.i18n import i18n_patterns
from django.conf.urls.static import static
from django.contrib import admin
from django.urls import include, path
from django.utils.translation import gettext_lazy as _

from emporter.desk import urls as desk_urls
from emporter.patrons.views import StaffLoginView, set_language

from . import views

# The admin is the network administrators' settings pages: named for Emporter, not Django.
admin.site.site_header = _("Emporter administration")
admin.site.site_title = _("Emporter administration")
admin.site.index_title = _("Network settings")

urlpatterns = [
    # Django's switch, which also sets a signed-in patron's language for their emails.
    path("i18n/setlang/", set_language, name="set_language"),
    path("i18n/", include("django.conf.urls.i18n")),
    path("healthz", views.healthz, name="healthz"),
    path("healthz/jobs", views.healthz_jobs, name="healthz_jobs"),
    # The API is not under a language prefix: clients choose with Accept-Language.
    path("api/", include("emporter.api.urls")),
]
urlpatterns += i18n_patterns(
    path("", views.home, name="home"),
    path("account/", include("emporter.patrons.urls")),
    path("privacy/", include("emporter.privacy.urls")),
    path("basket/", include("emporter.holds.urls")),
    path("staff/login/", StaffLoginView.as_view(), name="staff_login"),
    path("catalogue/", include("emporter.catalogue.urls")),
    path("discover/", include("emporter.discovery.urls")),
    path("staff/picking/", include("emporter.picking.urls")),
    path("staff/phone/", include("emporter.phonedesk.urls")),
    path("staff/stats/", include("emporter.stats.urls")),
    path("staff/door/", include("emporter.desk.urls")),
    path("staff/network/", include("emporter.network.urls")),
    path("staff/imports/", include("emporter.imports.urls")),
    path("account/loans/", include(desk_urls.patron_urlpatterns)),
    path("account/bags/", include("emporter.curbside.urls")),
    path("staff/notices/", include("emporter.notices.urls")),
    path("admin/", admin.site.urls),
    prefix_default_language=False,
)
# Covers and selection images uploaded in the admin: served by Django under DEBUG (the
# demo, `make run`); in production by the web server in front (docs/deploy.md).
urlpatterns += static(settings.MEDIA_URL, document_root=settings.MEDIA_ROOT)
