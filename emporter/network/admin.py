from django.contrib import admin

from .models import Branch, ClosedDay, Department, Location, OpeningHours


class OpeningHoursInline(admin.TabularInline):
    model = OpeningHours
    extra = 0


class ClosedDayInline(admin.TabularInline):
    model = ClosedDay
    extra = 0


class DepartmentInline(admin.TabularInline):
    model = Department
    extra = 0


@admin.register(Branch)
class BranchAdmin(admin.ModelAdmin):
    list_display = ["code", "name", "service_mode", "pick_time", "is_central"]
    list_editable = ["service_mode"]
    list_filter = ["service_mode"]
    search_fields = ["code", "name"]
    inlines = [OpeningHoursInline, ClosedDayInline, DepartmentInline]

    def save_model(self, request, obj, form, change):
        """A mode changed here (the list is editable) does what the continuity switch does."""
        if change and "service_mode" in form.changed_data:
            from .services import set_mode

            mode = obj.service_mode
            obj.service_mode = form.initial["service_mode"]
            super().save_model(request, obj, form, change)
            set_mode(branches=Branch.objects.filter(pk=obj.pk), mode=mode, actor=request.user)
            obj.refresh_from_db(fields=["service_mode", "mode_changed_at"])
            return
        super().save_model(request, obj, form, change)


class LocationInline(admin.TabularInline):
    model = Location
    extra = 0


@admin.register(Department)
class DepartmentAdmin(admin.ModelAdmin):
    list_display = ["name", "branch", "code", "walking_order"]
    list_filter = ["branch"]
    inlines = [LocationInline]


@admin.register(ClosedDay)
class ClosedDayAdmin(admin.ModelAdmin):
    list_display = ["date", "branch", "reason"]
    list_filter = ["branch"]
